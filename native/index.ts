// The native facade: the firewall's own verbs over the addon (native/src). Only the helper (and
// kernel tests and benchmarks) import native/, and native/ imports nothing from main/: callers
// pass what it needs (mount points, an address formatter). Everything that blocks (loading,
// applying, binding, reading maps, probing, detaching) runs off the JS thread and returns a
// promise; every native failure is a NativeError. Test-only verbs live in testing.ts.
//
//   Firewall.open      load the programs and attach them, or adopt what is pinned
//   setRules / changeRules   apply a ruleset or a change of it (compiler/apply.ts: diff or swap)
//   bindApps           tell the kernel which executables, cgroups and processes are which app
//   setEnforcing       enforce, or only observe
//   subscribe          decoded events from the ring buffer, in batches
//   readCounters / readFlows   decision counters and rule hits; live per-socket totals
//   drainTally         the counts of flows the kernel tallies instead of recording
//   close / Firewall.detach    let go of the fds (enforcement stays) / take everything down
//   setAsk / readHolds / answerHolds / forgetHolds / decideFlows   ask mode's held flows
//   probeKernel        what the running kernel offers
import { existsSync } from 'node:fs';
import { constants, release } from 'node:os';
import { addon, nativeFirewalls, type NativeFirewall } from './addon.js';
import { bindingSteps } from './app-bindings.js';
import type {
  AppBindingChange,
  ApplyStats,
  Counters,
  DecideQuery,
  DecisionEvent,
  EventDecoding,
  HeldFlow,
  HoldAnswer,
  HoldOutcome,
  HoldRef,
  HoldSupport,
  KernelDecision,
  EventSubscription,
  FastPathHome,
  FirewallOptions,
  KernelDefaults,
  KernelFeatures,
  CompilableRule,
  PeerCredentials,
  ProbeOptions,
  Retirement,
} from './api.js';
import { RuleApplier } from './compiler/apply.js';
import { NativeError } from './errors.js';
import { EventDecoder } from './event-layout.js';
import {
  decodeDecisions,
  decodeHeldFlows,
  encodeDecideQueries,
  encodeHoldAnswers,
  encodeHoldKeys,
} from './hold-layout.js';

export type * from './api.js';
export { NativeError, type NativeErrorFields } from './errors.js';
export { FLOW_RECORD_BYTES, visitFlowRecords } from './event-layout.js';

/** What the running kernel offers, probed (not guessed from the version); the caller says where
 *  the filesystems are mounted. */
export async function probeKernel(options: ProbeOptions): Promise<KernelFeatures> {
  const { bpffs, cgroup2Mount } = options;
  const bpffsMount = options.bpffsMounts.find((m) => m === bpffs || bpffs.startsWith(`${m}/`)) ?? null;
  const btf = existsSync('/sys/kernel/btf/vmlinux');
  const bpf = await addon().probeBpf();
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
    [bpf.sockRelease, 'the cgroup socket-release hook (BPF_CGROUP_INET_SOCK_RELEASE, Linux 5.9+)'],
    [bpf.atomicFetch, 'BPF atomic operations that return the old value (BPF_FETCH, Linux 5.12+)'],
    [bpf.sockOps, 'sock_ops programs (BPF_PROG_TYPE_SOCK_OPS)'],
  ];
  // Not needed: without bpf_cast_to_kern_ctx (before 6.2) the fast path reads socket storage instead.
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
    cgroupSock: bpf.cgroupSock,
    tpBtf: bpf.tpBtf,
    bpfLink: bpf.bpfLink,
    sockRelease: bpf.sockRelease,
    atomicFetch: bpf.atomicFetch,
    kernelContextCast: bpf.kernelContextCast,
    hold: holdSupport(bpf.sockOps, bpf.connectSetsockopt, release()),
    missing,
  };
}

/** The oldest kernel whose TCP behaves as the SYN hold needs (it cannot be probed without a connection). */
const HOLD_MIN_KERNEL: [number, number] = [5, 9];

/**
 * Ask mode's mechanism: the pieces that can be probed are, the TCP behaviour it relies on (a
 * retransmit timer re-armed by an unacceptable RST|ACK in SYN_SENT, TCP_USER_TIMEOUT in SYN_SENT)
 * is known from the kernel's version.
 */
function holdSupport(sockOps: boolean, connectSetsockopt: boolean, kernelRelease: string): HoldSupport {
  const [major = 0, minor = 0] = kernelRelease.split(/[.-]/).map(Number);
  const [needMajor, needMinor] = HOLD_MIN_KERNEL;
  const missing: string[] = [];
  if (!sockOps) missing.push('sock_ops programs');
  if (!connectSetsockopt) missing.push('bpf_setsockopt in connect hooks');
  if (major < needMajor || (major === needMajor && minor < needMinor))
    missing.push(`Linux ${needMajor}.${needMinor}+ TCP (this is ${kernelRelease})`);
  if (missing.length > 0) return { mechanism: null, detail: `ask mode is unavailable: no ${missing.join(', no ')}` };
  return {
    mechanism: 'syn-hold',
    detail:
      'held connects wait with their SYN dropped at egress under a sock_ops timer (TCP_USER_TIMEOUT ends an unanswered hold); an answer releases or refuses them with a loopback RST|ACK; UDP flows wait at their first datagram',
  };
}

/** SO_PEERCRED of a connected unix socket (a net.Socket's fd is socket._handle.fd): one getsockopt. */
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

/**
 * The helper's ring buffer: every decision of a connection is a record (~160 bytes), and each one
 * counts in the connection list, so the ring must outlast the helper's pauses on a busy machine.
 * 4 MiB holds ~26k records, a burst of 10,000 connects; 256 KiB lost ~6 % of one under load.
 */
const DEFAULT_RING_BYTES = 4 * 1024 * 1024;

export class Firewall {
  private native: NativeFirewall | null;
  private readonly rules: RuleApplier;
  private subscription: EventSubscription | null = null;
  /** Work in flight, which close() lets finish. */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(native: NativeFirewall) {
    this.native = native;
    this.rules = new RuleApplier(native);
    nativeFirewalls.set(this, native);
  }

  /**
   * Loads the programs and attaches them to `cgroup` with pinned links under `pinDir`, or adopts
   * what is already pinned there (maps by pin; links kept where they run this build's programs on
   * these maps, else re-pointed at them or, tracing links, replaced).
   */
  static async open(options: FirewallOptions): Promise<Firewall> {
    if (typeof options?.cgroup !== 'string' || typeof options.pinDir !== 'string') {
      throw new TypeError('Firewall.open({ cgroup, pinDir }): both must be strings');
    }
    return new Firewall(
      await addon().Firewall.open(
        options.cgroup,
        options.pinDir,
        options.ringBytes ?? DEFAULT_RING_BYTES,
        options.fastPath,
      ),
    );
  }

  /** Unpins and detaches everything under pinDir: enforcement stops. */
  static async detach(pinDir: string): Promise<void> {
    return addon().Firewall.detach(pinDir);
  }

  /**
   * The pinned links of a build replaced that no helper retired yet, as paths under pinDir
   * ("retired/NAME"); they still enforce that build's rules. Only links: nothing else there is ours.
   */
  static setAsideLinks(pinDir: string): string[] {
    return addon().Firewall.setAsideLinks(pinDir);
  }

  /** true when pins already existed and were adopted rather than created. */
  get adopted(): boolean {
    return this.live().adopted;
  }

  /**
   * Set when the pins were made by a build whose maps differ (an upgrade that changed one): which
   * map, and how. That build's programs were set aside, still attached, and keep enforcing beside
   * these until retireOldBuild; null otherwise.
   */
  get replaced(): string | null {
    return this.live().replaced;
  }

  /**
   * Detaches the programs of the build replaced; call once this firewall enforces the rules and
   * settings (until then the old build's programs enforce them). Answers how many links went (0
   * when none were set aside) and what stays set aside, and why: an entry that cannot go does not
   * keep the others, nor fail the call.
   */
  retireOldBuild(): Promise<Retirement> {
    return this.track(this.live().retireOldBuild());
  }

  /** Where the loaded programs' cached fast path finds a socket's state (see FastPathHome). */
  get fastPath(): FastPathHome {
    return this.live().fastPath;
  }

  /** Replaces the whole ruleset (see RuleApplier.setRules). Rules are told apart by object identity. */
  async setRules(rules: readonly CompilableRule[], defaults: KernelDefaults): Promise<ApplyStats> {
    await this.readyFor(defaults);
    return this.track(this.rules.setRules(rules, defaults));
  }

  /**
   * Takes out `removed` (objects given before) and takes in `added`, all or nothing; the cost
   * follows the change, not the ruleset (see RuleApplier.changeRules).
   */
  async changeRules(
    change: { removed: readonly CompilableRule[]; added: readonly CompilableRule[] },
    defaults: KernelDefaults,
  ): Promise<ApplyStats> {
    await this.readyFor(defaults);
    return this.track(this.rules.changeRules(change, defaults));
  }

  /**
   * Ask mode's sock_ops program is attached only once a ruleset can hold a connect (it runs five
   * times per TCP connection), and before that ruleset is in force.
   */
  private async readyFor(defaults: KernelDefaults): Promise<void> {
    const native = this.live();
    if (defaults.global === 'ask') await this.track(native.attachHolds());
  }

  /** Adds, changes or removes app bindings (`replace`: every other binding goes first). */
  async bindApps(change: AppBindingChange): Promise<void> {
    return this.track(this.live().updateBindings(bindingSteps(change)));
  }

  async setEnforcing(on: boolean): Promise<void> {
    return this.track(this.live().setEnforcing(on));
  }

  /** Ask mode: how long the kernel holds a connect (0: nobody asks, refuse at once), and whose traffic is never held. */
  async setAsk(options: { holdMs: number; helperTgid: number }): Promise<void> {
    return this.track(this.live().setAsk(options.holdMs, options.helperTgid));
  }

  /** Every flow held for a question, with its answer if it has one. */
  async readHolds(decoding: EventDecoding): Promise<HeldFlow[]> {
    return decodeHeldFlows(await this.track(this.live().readHolds()), decoding);
  }

  /** Answers held flows (see HoldOutcome for what each answer did). */
  async answerHolds(answers: readonly HoldAnswer[]): Promise<HoldOutcome[]> {
    if (answers.length === 0) return [];
    const codes = await this.track(this.live().answerHolds(encodeHoldAnswers(answers)));
    return Array.from(
      codes,
      (code): HoldOutcome => (code === 0 ? 'gone' : code === 1 ? 'recorded' : code === 2 ? 'sent' : { errno: -code }),
    );
  }

  /** Takes held flows' entries and answers out of the kernel (flows done with); missing ones are fine. */
  async forgetHolds(refs: readonly HoldRef[]): Promise<void> {
    if (refs.length === 0) return;
    return this.track(this.live().forgetHolds(encodeHoldKeys(refs)));
  }

  /** How the hooks would decide these flows under the current rules (ask mode re-checks held flows with it). */
  async decideFlows(queries: readonly DecideQuery[]): Promise<KernelDecision[]> {
    if (queries.length === 0) return [];
    return decodeDecisions(await this.track(this.live().decideFlows(encodeDecideQueries(queries))));
  }

  async readCounters(): Promise<Counters> {
    const raw = await this.track(this.live().readCounters());
    return {
      allowed: raw.allowed,
      blocked: raw.blocked,
      events: raw.events,
      eventDrops: raw.drops,
      ruleHits: new Map(raw.ruleHits),
    };
  }

  /**
   * Live totals of sockets that carried traffic, as raw pcl_flow_record records (visitFlowRecords
   * walks them with no object per socket); closed sockets report once, in a 'close' event.
   */
  async readFlows(): Promise<Buffer> {
    return this.track(this.live().readFlows());
  }

  /**
   * The counts of tallied flows since the last drain (decodeTallyRecords reads them): the kernel
   * counts a known allowed flow's decisions instead of recording each. The first drain turns
   * tallying on; each takes every count once (the kernel moves to a new epoch first).
   */
  async drainTally(): Promise<Buffer> {
    return this.track(this.live().drainTally());
  }

  /**
   * Delivers decoded events in batches from a background thread. `drops` = events the kernel could
   * not queue since the previous batch (the first batch: since this Firewall was opened).
   */
  subscribe(onBatch: (events: DecisionEvent[], drops: bigint) => void, decoding: EventDecoding): EventSubscription {
    const native = this.live();
    if (this.subscription)
      throw misuse('subscribe', 'EBUSY', 'already subscribed: close the previous subscription first');
    const decoder = new EventDecoder(decoding);
    native.startEvents((buf, drops) => onBatch(decoder.decode(buf), drops));
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

  /**
   * Stops the event thread, lets the work in flight finish and closes the file descriptors. Pins,
   * and so enforcement, stay.
   */
  async close(): Promise<void> {
    const native = this.native;
    if (!native) return;
    this.subscription?.close();
    this.native = null;
    await Promise.allSettled([...this.inFlight]);
    native.close();
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const done = () => this.inFlight.delete(work);
    work.then(done, done);
    return work;
  }

  private live(): NativeFirewall {
    if (!this.native) throw misuse('use of a closed Firewall', 'EBADF', 'this Firewall is closed');
    return this.native;
  }
}

/** A NativeError for a firewall used out of turn (closed, subscribed twice), as the addon makes them. */
function misuse(op: string, code: 'EBADF' | 'EBUSY', detail: string): NativeError {
  return new NativeError(`${op} failed: ${detail}`, { code, errno: constants.errno[code], op, detail });
}
