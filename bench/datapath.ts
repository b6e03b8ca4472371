// Datapath benchmark (not a test): ns per packet of the cgroup_skb programs via BPF_PROG_TEST_RUN
// against the empty cgroup_skb program measured in the same run, at 10, 10k and 1M rules, for the
// cached path and for full evaluation; plus time and kernel memory to apply 1M rules. Each size gets
// a fresh firewall, so every apply starts from empty maps. Full evaluation is measured twice: to an
// address under a CIDR (exact-hash miss, then the LPM trie) and to an address with an exact rule
// (the hash alone); their difference is what the trie walk costs. Where the kernel runs the fast
// path's entry form (6.2+), the smallest set is measured once more in the socket-storage form that
// older kernels run (olderKernelsFastPath): the price of running there.
// Writes bench/results/datapath.json. Needs root. `npm run bench:datapath`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { Firewall } from '../native/index.js';
import type { FastPathHome, FirewallOptions, KernelRule } from '../native/api.js';
import { TestPrograms } from '../native/testing.js';
import { Sandbox } from '../test/support/sandbox.js';
import { ipv4, ipv6 } from '../test/kernel/packets.js';

const SIZES = (process.env.DATAPATH_SIZES ?? '10,10000,1000000').split(',').map(Number);
const REPEAT = Number(process.env.DATAPATH_REPEAT ?? 1_000_000);
const ROUNDS = Number(process.env.DATAPATH_ROUNDS ?? 15);

/** Deterministic PRNG (mulberry32) so every run measures the same rule set. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Half IPv4, half IPv6; of each, 70% exact addresses and 30% CIDRs (v4 /12-/30, v6 /24-/64),
 * spread over the unicast space; a quarter carry a port range and protocol. The probe
 * destinations 10.200.0.9 and 2001:db8:200::9 fall inside CIDRs (10.200.0.0/16,
 * 2001:db8:200::/48) but hit no exact entry, so full evaluation walks the LPM trie.
 */
export function ruleSet(size: number): KernelRule[] {
  const random = prng(size);
  const rules: KernelRule[] = [];
  const byte = () => Math.floor(random() * 256);
  for (let i = 0; rules.length < size - 2; i++) {
    const v6 = i % 2 === 1;
    const exact = random() < 0.7;
    const prefixLen = exact ? (v6 ? 128 : 32) : v6 ? 24 + Math.floor(random() * 41) : 12 + Math.floor(random() * 19);
    const addr = v6
      ? Uint8Array.from([0x20 + Math.floor(random() * 32), ...Array.from({ length: 15 }, byte)])
      : Uint8Array.from([11 + Math.floor(random() * 212), byte(), byte(), byte()]);
    if (!v6 && addr[0] === 127) addr[0] = 128;
    if (v6 && addr[0] === 0x20 && addr[1] === 0x01 && addr[2] === 0x0d && addr[3] === 0xb8) addr[3] = 0xb9;
    // Zero the host bits.
    for (let b = 0; b < addr.length; b++) {
      const bits = Math.max(0, Math.min(8, prefixLen - b * 8));
      addr[b]! &= (0xff << (8 - bits)) & 0xff;
    }
    const ported = random() < 0.25;
    const port = 1 + Math.floor(random() * 60000);
    rules.push({
      ruleId: rules.length + 1,
      scope: 0,
      family: v6 ? 6 : 4,
      addr,
      prefixLen,
      portLo: ported ? port : 0,
      portHi: ported ? port + Math.floor(random() * 10) : 65535,
      protocol: ported ? (random() < 0.5 ? 'tcp' : 'udp') : 'any',
      direction: 'both',
      action: random() < 0.9 ? 'block' : 'allow',
    });
  }
  rules.push({
    ruleId: size - 1,
    scope: 0,
    family: 4,
    addr: Uint8Array.from([10, 200, 0, 0]),
    prefixLen: 16,
    portLo: 0,
    portHi: 65535,
    protocol: 'any',
    direction: 'both',
    action: 'allow',
  });
  rules.push({
    ruleId: size,
    scope: 0,
    family: 6,
    addr: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, ...new Array(10).fill(0)]),
    prefixLen: 48,
    portLo: 0,
    portHi: 65535,
    protocol: 'any',
    direction: 'both',
    action: 'allow',
  });
  return rules;
}

const LOCAL = { v4: '192.168.50.1', v6: 'fd00::1' } as const;
const packets = {
  v4: ipv4(LOCAL.v4, '10.200.0.9', { proto: 'tcp', sport: 40000, dport: 443, payload: 100 }),
  v6: ipv6(LOCAL.v6, '2001:db8:200::9', { proto: 'tcp', sport: 40000, dport: 443, payload: 100 }),
};

/** A packet to the address of the rule set's first exact (/32 or /128) rule of that family. */
function exactHitPacket(rules: KernelRule[], family: 'v4' | 'v6'): Uint8Array | null {
  const v6 = family === 'v6';
  const exact = rules.find((r) => r.family === (v6 ? 6 : 4) && r.prefixLen === (v6 ? 128 : 32));
  if (!exact) return null;
  const remote = v6
    ? Array.from({ length: 8 }, (_, i) => ((exact.addr[2 * i]! << 8) | exact.addr[2 * i + 1]!).toString(16)).join(':')
    : Array.from(exact.addr).join('.');
  const l4 = { proto: 'tcp', sport: 40000, dport: 443, payload: 100 } as const;
  return v6 ? ipv6(LOCAL.v6, remote, l4) : ipv4(LOCAL.v4, remote, l4);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Per-round samples of one rule-set size and family; rounds of every row alternate over the run. */
interface Samples {
  empty: number[];
  cached: number[];
  full: number[];
  exact: number[];
}

/** One round: empty, cached, full, full to an exact-rule address, back to back so load hits them alike. */
function round(programs: TestPrograms, packet: Uint8Array, exactHit: Uint8Array | null, into: Samples): void {
  into.empty.push(programs.run('egress', packet, { baseline: true, repeat: REPEAT }).durationNs);
  into.cached.push(programs.run('egress', packet, { repeat: REPEAT }).durationNs);
  into.full.push(programs.run('egress', packet, { cached: false, repeat: REPEAT }).durationNs);
  if (exactHit) into.exact.push(programs.run('egress', exactHit, { cached: false, repeat: REPEAT }).durationNs);
}

/** Medians, and ratios as the median of each round's own ratio (a busy spell slows that round's empty program too). */
function summarize(samples: Samples) {
  const perRound = (values: number[]) => median(values.map((v, i) => v / samples.empty[i]!));
  return {
    emptyNs: median(samples.empty),
    cachedNs: median(samples.cached),
    fullNs: median(samples.full),
    fullExactHitNs: samples.exact.length > 0 ? median(samples.exact) : null,
    cachedRatio: perRound(samples.cached),
    fullRatio: perRound(samples.full),
  };
}

interface Loaded {
  size: number;
  fastPath: FastPathHome;
  programs: TestPrograms;
  apply: { rules: number; elapsedMs: number; cpuMs: number; ruleMemoryBytes: number } & Record<string, unknown>;
  probes: Record<'v4' | 'v6', { packet: Uint8Array; exactHit: Uint8Array | null; samples: Samples }>;
}

/**
 * A firewall of its own (own cgroup and pins, so the apply starts from empty maps) holding `size`
 * rules; its fast path in the given form (the socket-storage one is how kernels before 6.2 run).
 */
async function load(
  sandbox: Sandbox,
  bpffs: string,
  size: number,
  fastPath: FirewallOptions['fastPath'] = 'auto',
): Promise<Loaded> {
  const name = fastPath === 'auto' ? `${size}` : `${size}-${fastPath}`;
  const pinDir = join(bpffs, `portcullis-${name}`);
  sandbox.defer(() => Firewall.detach(pinDir));
  const firewall = await Firewall.open({ cgroup: sandbox.makeCgroup(`bench-datapath-${name}`), pinDir, fastPath });
  sandbox.defer(() => firewall.close());
  const programs = await TestPrograms.load(firewall);
  sandbox.defer(() => programs.close());
  const memoryBefore = programs.mapMemory();
  const rules = ruleSet(size);
  // CPU time alongside wall time: on a shared machine, waiting for a CPU can dominate the wall clock.
  const cpuBefore = process.cpuUsage();
  const stats = await firewall.setRules(rules, { global: 'allow', perApp: new Map() });
  const cpu = process.cpuUsage(cpuBefore);
  const apply = {
    rules: size,
    elapsedMs: stats.elapsedMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    loadAverage: loadavg()[0],
    compileMs: stats.compileMs,
    kernelMs: stats.elapsedMs - (stats.compileMs ?? 0),
    fillCpuMs: stats.fillCpuMs,
    ruleMemoryBytes: programs.mapMemory() - memoryBefore,
    clauseSets: stats.clauseSets,
    targetMs: 2000,
  };
  const probe = (family: 'v4' | 'v6') => ({
    packet: packets[family],
    exactHit: exactHitPacket(rules, family),
    samples: { empty: [], cached: [], full: [], exact: [] },
  });
  return { size, fastPath: firewall.fastPath, programs, apply, probes: { v4: probe('v4'), v6: probe('v6') } };
}

type Row = Record<string, unknown> & {
  rules: number;
  family: string;
  fullNs: number;
  cachedRatio: number;
  fullRatio: number;
};

async function main(): Promise<void> {
  const sandbox = new Sandbox();
  const results: Row[] = [];
  const olderForm: Row[] = [];
  let apply1M: Record<string, unknown> | null = null;
  try {
    const bpffs = sandbox.makeBpffs();
    const loaded: Loaded[] = [];
    for (const size of SIZES) loaded.push(await load(sandbox, bpffs, size));
    // Where the kernel runs the entry form, the smallest rule set once more in the older kernels'
    // form, so the price of running there is known (the cached path's cost does not grow with rules).
    const older =
      loaded[0]?.fastPath === 'entry' ? await load(sandbox, bpffs, Math.min(...SIZES), 'socket-storage') : null;
    const measured = older ? [...loaded, older] : loaded;
    // Rounds go size by size, family by family, and then again: a busy spell on the shared machine
    // falls on every row's rounds alike instead of on one row.
    for (let r = 0; r < ROUNDS; r++) {
      for (const { programs, probes } of measured) {
        for (const family of ['v4', 'v6'] as const)
          round(programs, probes[family].packet, probes[family].exactHit, probes[family].samples);
      }
    }
    for (const { size, fastPath, apply, probes } of measured) {
      for (const family of ['v4', 'v6'] as const) {
        const row: Row = {
          rules: size,
          family,
          fastPath,
          ...summarize(probes[family].samples),
          applyMs: apply.elapsedMs,
          applyCpuMs: apply.cpuMs,
          ruleMemoryBytes: apply.ruleMemoryBytes,
        };
        (older && fastPath === older.fastPath ? olderForm : results).push(row);
        console.log(JSON.stringify(row));
      }
      if (size === 1_000_000 && fastPath === loaded[0]!.fastPath) apply1M = apply;
    }
  } finally {
    await sandbox.dispose();
  }

  const at = (size: number, family: string) => results.find((r) => r.rules === size && r.family === family);
  const flatness = ['v4', 'v6'].map((family) => {
    const small = at(10_000, family);
    const large = at(1_000_000, family);
    // In units of the empty program measured alongside each, so load that differs between the two sizes cancels.
    return {
      family,
      fullNs10k: small?.fullNs,
      fullNs1M: large?.fullNs,
      ratio: small && large ? large.fullRatio / small.fullRatio : null,
    };
  });
  const report = {
    benchmark: 'datapath',
    date: new Date().toISOString(),
    method: `BPF_PROG_TEST_RUN, repeat ${REPEAT}, median of ${ROUNDS} rounds interleaved across all rule counts and families; ratios against the empty cgroup_skb program, the median of each round's own ratio. Apply: wall and process CPU time (fills: thread CPU time)`,
    loadAverageAtEnd: loadavg(),
    targets: { cachedRatioMax: 1.5, fullFlat10kTo1MMax: 1.3, fullRatioAt1MMax: 6, apply1MMsMax: 2000 },
    perPacket: results,
    olderKernelsFastPath: olderForm,
    fullEvaluationFlatness: flatness,
    apply1M,
  };
  const dir = join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'datapath.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify({ flatness, apply1M }, null, 2));
}

if (require.main === module) void main();
