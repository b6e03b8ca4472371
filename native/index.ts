// The typed facade over the native addon (native/src): the firewall's own verbs. Only the helper,
// kernel tests and benchmarks import this. Types live in ./api.ts.
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { findBpffsMounts, findCgroup2Mount } from '../main/common/cgroup2.js';
import { pcl_exe_key as EXE_KEY } from './abi.js';
import type {
  AppBindings,
  ApplyStats,
  Counters,
  DecisionEvent,
  EventSubscription,
  FirewallOptions,
  FlowTotals,
  KernelDefaults,
  KernelFeatures,
  KernelRule,
  PeerCredentials,
  TestProgram,
  TestRunOptions,
  TestRunResult,
} from './api.js';
import { decodeEvents, decodeFlows } from './event-layout.js';
import { RuleCompiler } from './compiler/compiler.js';
import { ENTRY_MAPS, type EntryMap } from './compiler/layout.js';
import { capacityFor, planDiff, swapReason, type Capacities, type DiffStep } from './compiler/rule-diff.js';
import type { CompiledRules, GrowingImage, MapImage } from './compiler/types.js';
import { validateDefaults, validateRule } from './compiler/validation.js';

export type * from './api.js';

type BindingKind = 'exe' | 'cgroup' | 'tgid';

interface NativeFirewall {
  readonly adopted: boolean;
  prepareMap(map: EntryMap | 'v6Buckets', image: GrowingImage & { capacity: number }): void;
  applyRules(compiled: CompiledRules, globalDefault: number): { generation: number; entriesWritten: number; mapsReplaced: number; fillMs: Record<string, number> };
  applyDiff(steps: DiffStep[]): { generation: number };
  setEnforcing(on: boolean): void;
  enforcing(): boolean;
  bindApps(kind: BindingKind, keys: Buffer, values: Buffer): number;
  unbindApps(kind: BindingKind, keys: Buffer): number;
  clearBindings(kind: BindingKind): number;
  counters(): { allowed: bigint; blocked: bigint; events: bigint; drops: bigint; ruleHits: Array<[number, bigint]> };
  readFlows(): Buffer;
  startEvents(onBatch: (events: Buffer, drops: bigint) => void): void;
  stopEvents(): void;
  testRun(program: string, packet: Buffer, repeat: number): { retval: number; durationNs: number };
  mapMemory(): number;
  close(): void;
}

interface NativeAddon {
  Firewall: {
    new (cgroup: string, pinDir: string, ringBytes: number): NativeFirewall;
    detach(pinDir: string): void;
  };
  probeBpf(): Pick<KernelFeatures, 'ringBuffer' | 'lpmTrie' | 'skStorage' | 'cgroupSockAddr' | 'cgroupSkb' | 'tpBtf' | 'bpfLink' | 'kernelContextCast'> & {
    arrayOfMaps: boolean;
    cgroupSock: boolean;
  };
  peerCredentials(fd: number): PeerCredentials;
  trimNativeHeap(): boolean;
}

/** The package root: the nearest directory above this file holding native/binding.gyp. Works
 *  from source (tsx) and from tsc output under build/. */
function findAddon(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const candidate = join(dir, 'native', 'build', 'Release', 'portcullis.node');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error('native addon not built: run `npm run build:bpf && npm run build:native`');
}

let loaded: NativeAddon | undefined;
function addon(): NativeAddon {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require(findAddon()) as NativeAddon;
  return loaded;
}

/** What the running kernel offers, probed (not guessed from the version). */
export function probeKernel(bpffs = '/sys/fs/bpf'): KernelFeatures {
  const cgroup2Mount = findCgroup2Mount();
  const bpffsMount = findBpffsMounts().find((m) => m === bpffs || bpffs.startsWith(`${m}/`)) ?? null;
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  const bpf = addon().probeBpf();
  const missing: string[] = [];
  if (!cgroup2Mount) missing.push('no cgroup v2 hierarchy is mounted (cgroup2 in /proc/self/mountinfo)');
  if (!bpffsMount) missing.push(`no bpf filesystem is mounted at ${bpffs} (mount -t bpf bpf ${bpffs})`);
  if (!btf) missing.push('the kernel has no BTF (/sys/kernel/btf/vmlinux): CONFIG_DEBUG_INFO_BTF is needed');
  const need: Array<[boolean, string]> = [
    [bpf.ringBuffer, 'BPF ring buffer maps (Linux 5.8+)'],
    [bpf.lpmTrie, 'BPF LPM trie maps'],
    [bpf.skStorage, 'BPF socket storage maps (Linux 5.2+)'],
    [bpf.arrayOfMaps, 'BPF array-of-maps'],
    [bpf.cgroupSockAddr, 'cgroup connect/sendmsg hooks (BPF_PROG_TYPE_CGROUP_SOCK_ADDR)'],
    [bpf.cgroupSkb, 'cgroup packet hooks (BPF_PROG_TYPE_CGROUP_SKB)'],
    [bpf.cgroupSock, 'cgroup socket hooks (BPF_PROG_TYPE_CGROUP_SOCK)'],
    [bpf.tpBtf, 'BTF tracepoints (tp_btf) for exec/fork/exit tracking'],
    [bpf.bpfLink, 'BPF links for cgroups (BPF_LINK_CREATE, Linux 5.7+)'],
    [bpf.kernelContextCast, 'the bpf_cast_to_kern_ctx kfunc the cached fast path finds sockets with (Linux 6.2+)'],
  ];
  for (const [present, what] of need) if (!present) missing.push(`the kernel lacks ${what}`);
  return {
    kernelRelease: release(),
    cgroup2Mount,
    bpffsMount,
    btf,
    ringBuffer: bpf.ringBuffer,
    lpmTrie: bpf.lpmTrie,
    skStorage: bpf.skStorage,
    cgroupSockAddr: bpf.cgroupSockAddr,
    cgroupSkb: bpf.cgroupSkb,
    tpBtf: bpf.tpBtf,
    bpfLink: bpf.bpfLink,
    kernelContextCast: bpf.kernelContextCast,
    missing,
  };
}

/** SO_PEERCRED of a connected unix socket (a net.Socket's fd is socket._handle.fd). */
export function peerCredentials(fd: number): PeerCredentials {
  return addon().peerCredentials(fd);
}

/**
 * Gives the C heap's free pages back to the kernel (glibc malloc_trim); true if any went. Freed
 * memory between live allocations otherwise stays resident after a burst.
 */
export function trimNativeHeap(): boolean {
  return addon().trimNativeHeap();
}

/** st_dev as stat(2) reports it (new_encode_dev) -> the kernel's dev_t (major << 20 | minor). */
export function kernelDev(userDev: bigint): bigint {
  const major = ((userDev >> 8n) & 0xfffn) | ((userDev >> 32n) & ~0xfffn);
  const minor = (userDev & 0xffn) | ((userDev >> 12n) & ~0xffn);
  return (major << 20n) | minor;
}

function packBindings(bindings: Partial<AppBindings>): Array<{ kind: BindingKind; keys: Buffer; values: Buffer }> {
  const exe = bindings.executables ?? [];
  const cgroups = bindings.cgroups ?? [];
  const processes = bindings.processes ?? [];
  const values = (ids: number[]) => {
    const buf = Buffer.alloc(ids.length * 4);
    ids.forEach((id, i) => buf.writeUInt32LE(id, i * 4));
    return buf;
  };
  const exeKeys = Buffer.alloc(exe.length * EXE_KEY.SIZE);
  exe.forEach((e, i) => {
    exeKeys.writeBigUInt64LE(kernelDev(e.dev), i * EXE_KEY.SIZE + EXE_KEY.dev);
    exeKeys.writeBigUInt64LE(e.ino, i * EXE_KEY.SIZE + EXE_KEY.ino);
  });
  const cgroupKeys = Buffer.alloc(cgroups.length * 8);
  cgroups.forEach((c, i) => cgroupKeys.writeBigUInt64LE(c.cgroupId, i * 8));
  const tgidKeys = Buffer.alloc(processes.length * 4);
  processes.forEach((p, i) => tgidKeys.writeUInt32LE(p.tgid, i * 4));
  return [
    { kind: 'exe', keys: exeKeys, values: values(exe.map((e) => e.appId)) },
    { kind: 'cgroup', keys: cgroupKeys, values: values(cgroups.map((c) => c.appId)) },
    { kind: 'tgid', keys: tgidKeys, values: values(processes.map((p) => p.appId)) },
  ];
}

const DEFAULT_RING_BYTES = 256 * 1024;

/** Inner maps sized with headroom for later diffs (see capacityFor). */
const CAPACITY_MAPS = [...ENTRY_MAPS, 'v6Buckets', 'sets'] as const;

export class Firewall {
  private native: NativeFirewall | null;
  private subscription: EventSubscription | null = null;
  /** The rules asked for, compiled; kept between applies so a change compiles only what it touches. */
  private readonly compiler = new RuleCompiler();
  /**
   * What this process installed by its last swap and the diffs since: capacities of the inner
   * maps and the defaults. null = unknown (the next apply swaps).
   */
  private installed: { capacities: Capacities; defaults: string } | null = null;
  /** CPU milliseconds spent filling each inner map in the last swap (benchmarks). */
  lastFillMs: Record<string, number> = {};

  private constructor(native: NativeFirewall) {
    this.native = native;
  }

  /**
   * Loads the programs and attaches them to `cgroup` with pinned links under `pinDir`, or adopts
   * what is already pinned there (maps by pin, links re-pointed at this build's programs).
   */
  static open(options: FirewallOptions): Firewall {
    if (typeof options?.cgroup !== 'string' || typeof options.pinDir !== 'string') {
      throw new TypeError('Firewall.open({ cgroup, pinDir }): both must be strings');
    }
    return new Firewall(new (addon().Firewall)(options.cgroup, options.pinDir, options.ringBytes ?? DEFAULT_RING_BYTES));
  }

  /** Unpins and detaches everything under pinDir: enforcement stops. */
  static detach(pinDir: string): void {
    addon().Firewall.detach(pinDir);
  }

  /** true when pins already existed and were adopted rather than created. */
  get adopted(): boolean {
    return this.live().adopted;
  }

  /**
   * Replaces the whole ruleset atomically: works out which rules (by object identity) left and
   * came since the last apply, then applies that change (see changeRules).
   */
  setRules(rules: KernelRule[], defaults: KernelDefaults): ApplyStats {
    if (this.compiler.ruleCount === 0) return this.changeRules({ removed: [], added: rules }, defaults, 'rules');
    rules.forEach((rule, index) => validateRule(rule, index, 'rules')); // errors name the place in `rules`
    const wanted = new Set(rules);
    const removed = [...this.compiler.rules()].filter((rule) => !wanted.has(rule));
    const added = rules.filter((rule) => !this.compiler.has(rule));
    return this.changeRules({ removed, added }, defaults);
  }

  /**
   * Takes out `removed` (objects given before) and takes in `added`, at a cost that follows the
   * change, not the ruleset: the compiler recompiles only the kernel keys the change touches, and
   * they go in place (mode 'diff', see rule-diff.ts). The first apply, a defaults change, a change
   * across scopes or one that overflows the maps fills fresh maps and flips the generation (mode
   * 'swap'; overflow grows them). On failure nothing of the change is kept: the compiler is put
   * back and the next apply swaps, so the kernel again matches what was asked before.
   */
  changeRules(change: { removed: readonly KernelRule[]; added: readonly KernelRule[] }, defaults: KernelDefaults, addedName = 'added'): ApplyStats {
    const native = this.live();
    const started = performance.now();
    validateDefaults(defaults);
    this.compiler.update(change.removed, change.added, addedName); // throws on bad input, before any change
    try {
      return this.applyCompiled(native, defaults, started);
    } catch (error) {
      this.installed = null;
      this.compiler.update(change.added, change.removed);
      throw error;
    }
  }

  private applyCompiled(native: NativeFirewall, defaults: KernelDefaults, started: number): ApplyStats {
    const defaultsKey = `${defaults.global}|${[...defaults.perApp].map(([app, action]) => `${app}:${action}`).sort().join(',')}`;
    let growing = false;
    if (this.installed && this.installed.defaults === defaultsKey) {
      const installed = this.installed;
      const before = ENTRY_MAPS.reduce((n, map) => n + this.compiler.entryCounts()[map], 0);
      const change = this.compiler.compileChange();
      const compileMs = performance.now() - started;
      const reason = swapReason(change, installed.capacities, before);
      if (!reason) {
        const plan = planDiff(change);
        this.installed = null; // unknown if a step fails half-way
        const result = native.applyDiff(plan.steps);
        this.installed = installed;
        return {
          mode: 'diff', entriesWritten: plan.written, entriesDeleted: plan.deleted, generation: result.generation,
          elapsedMs: performance.now() - started, compileMs, clauseSets: change.sets.ids.length / 4, warnings: change.warnings,
        };
      }
      growing = reason.endsWith('full');
    }
    // Each entry map starts filling (on a native thread) while its image is compiled.
    const compiled = this.compiler.compileAll(defaults, (map, image) => native.prepareMap(map, { ...image, capacity: capacityFor(map, image.count, growing) }));
    const compileMs = performance.now() - started;
    const capacities = {} as Capacities;
    const withCapacity: CompiledRules = { ...compiled };
    for (const map of CAPACITY_MAPS) {
      capacities[map] = capacityFor(map, compiled[map].count, growing);
      withCapacity[map] = { ...compiled[map], capacity: capacities[map] } as MapImage;
    }
    this.installed = null; // unknown until the swap succeeded
    const result = native.applyRules(withCapacity, compiled.globalDefault);
    this.installed = { capacities, defaults: defaultsKey };
    this.lastFillMs = result.fillMs;
    return {
      mode: 'swap', entriesWritten: result.entriesWritten, entriesDeleted: 0, generation: result.generation,
      elapsedMs: performance.now() - started, compileMs, clauseSets: compiled.sets.count, warnings: compiled.warnings,
    };
  }

  /** Replaces all app bindings. */
  setAppBindings(bindings: AppBindings): void {
    const native = this.live();
    for (const kind of ['exe', 'cgroup', 'tgid'] as const) native.clearBindings(kind);
    this.addAppBindings(bindings);
  }

  /** Adds (or changes) some bindings, leaving the others. */
  addAppBindings(bindings: Partial<AppBindings>): void {
    const native = this.live();
    for (const part of packBindings(bindings)) if (part.keys.length > 0) native.bindApps(part.kind, part.keys, part.values);
  }

  /** Removes some bindings (values of the given entries are ignored). */
  removeAppBindings(bindings: Partial<AppBindings>): void {
    const native = this.live();
    for (const part of packBindings(bindings)) if (part.keys.length > 0) native.unbindApps(part.kind, part.keys);
  }

  setEnforcing(on: boolean): void {
    this.live().setEnforcing(on);
  }

  get enforcing(): boolean {
    return this.live().enforcing();
  }

  counters(): Counters {
    const raw = this.live().counters();
    return { allowed: raw.allowed, blocked: raw.blocked, events: raw.events, eventDrops: raw.drops, ruleHits: new Map(raw.ruleHits) };
  }

  /** Live totals of sockets that carried traffic (closed sockets report once, in a 'close' event). */
  readFlows(): FlowTotals[] {
    return decodeFlows(this.live().readFlows());
  }

  /** The same as raw pcl_flows records (event-layout.ts visitFlowRecords walks them with no object per socket). */
  readFlowRecords(): Buffer {
    return this.live().readFlows();
  }

  /**
   * Delivers events in batches from a background thread. `drops` = events the kernel could not
   * queue since the previous batch (the first batch: since this Firewall was opened).
   */
  subscribe(onBatch: (events: DecisionEvent[], drops: bigint) => void): EventSubscription {
    const native = this.live();
    if (this.subscription) throw new Error('already subscribed: close the previous subscription first');
    native.startEvents((buf, drops) => onBatch(decodeEvents(buf), drops));
    const subscription: EventSubscription = {
      close: () => {
        if (this.subscription !== subscription) return;
        this.subscription = null;
        this.native?.stopEvents();
      },
    };
    this.subscription = subscription;
    return subscription;
  }

  /** Runs a cgroup_skb program on one packet (an IPv4 or IPv6 packet, no link-layer header). */
  testRun(program: TestProgram, packet: Uint8Array, options: TestRunOptions = {}): TestRunResult {
    const native = this.live();
    if (program !== 'egress' && program !== 'ingress') throw new TypeError(`testRun: unknown program "${String(program)}"`);
    const name = options.baseline ? 'pcl_empty' : options.cached === false ? `pcl_${program}_eval` : `pcl_${program}`;
    const result = native.testRun(name, withEthernetHeader(packet), options.repeat ?? 1);
    return { verdict: result.retval === 1 ? 'allow' : 'block', durationNs: result.durationNs };
  }

  /** Kernel memory charged to the maps (fdinfo memlock), current rule maps included. */
  memoryBytes(): number {
    return this.live().mapMemory();
  }

  /** Closes file descriptors and stops the event thread. Pins, and so enforcement, stay. */
  close(): void {
    this.subscription?.close();
    this.native?.close();
    this.native = null;
  }

  private live(): NativeFirewall {
    if (!this.native) throw new Error('this Firewall is closed');
    return this.native;
  }
}

/** BPF_PROG_TEST_RUN for cgroup_skb wants an Ethernet frame; the EtherType sets skb->protocol. */
function withEthernetHeader(packet: Uint8Array): Buffer {
  const frame = Buffer.alloc(14 + packet.length);
  const version = packet.length > 0 ? packet[0]! >> 4 : 4;
  frame.writeUInt16BE(version === 6 ? 0x86dd : 0x0800, 12);
  frame.set(packet, 14);
  return frame;
}
