// Real traffic through each contender: TCP connect+close per second and 64-byte UDP datagrams per
// second, over loopback inside a lane's namespace and over its veth to the server namespace.
// Each figure is measured in short slices that alternate between the firewall lane and the
// untouched baseline lane (ABBA order), so every ratio compares two runs taken moments apart.
// Contenders are installed in turn and rotate every repetition, so slow drift falls on all alike.
// For contenders made of BPF programs, each figure also gets a cost breakdown: one more slice on
// the firewall lane with the kernel's BPF run-time statistics on (never during the ratio slices:
// the statistics cost a clock read per program run), and their daemon's CPU time over the ratio
// slices.
import type { Sandbox } from '../test/support/sandbox.js';
import type { Contender } from './contenders/contender.js';
import { attachedPrograms, programCost, programCosts, withBpfStats, type ProgramCost } from './lib/bpf-costs.js';
import type { Lab, TrafficPath } from './lib/lab.js';
import type { Bounds, Loadgen, RateSample } from './lib/loadgen.js';
import { sampleProcess } from './lib/proc-usage.js';
import { rotation, summarize, type Summary } from './lib/stats.js';

export type TrafficKind = 'tcp-connect' | 'udp-64';

export interface TrafficPlan {
  /** How many times each contender is installed (and removed). */
  repetitions: number;
  /** Baseline/firewall pairs per figure per repetition. */
  slices: number;
  /** Bounds of one slice on one lane. */
  bounds: Bounds;
  paths: TrafficPath[];
  kinds: TrafficKind[];
}

export interface TrafficPair {
  repetition: number;
  /** Rate on the firewall lane and on the baseline lane, per second; null where that run failed. */
  firewall: number | null;
  baseline: number | null;
}

export interface TrafficSeries {
  path: TrafficPath;
  kind: TrafficKind;
  contender: string;
  pairs: TrafficPair[];
  errors: string[];
  /** Rate on the firewall lane with this contender installed. */
  rate: Summary | null;
  /** Rate on the baseline lane in the same slices. */
  baselineRate: Summary | null;
  /** firewall / baseline, per pair. */
  ratio: Summary | null;
  /** Where the time went (contenders with a CostSource only). */
  costs?: CostBreakdown;
}

/** Per figure: the attached programs' share, summed over the statistics slices of every repetition. */
export interface CostBreakdown {
  /** Operations (connections or datagrams sent) in the statistics slices. */
  operations: number;
  programs: ProgramCost[];
  /** The daemon's CPU time over the ratio slices' firewall lane, per thousand operations; null without one. */
  daemonCpuMsPerThousand: number | null;
  daemonOperations: number;
  errors: string[];
}

export interface TrafficResults {
  plan: TrafficPlan;
  contenders: Array<{ id: string; label: string; facts: Record<string, unknown> }>;
  /** Order in which contenders ran, per repetition. */
  order: string[][];
  series: TrafficSeries[];
}

/** What one slice did: connections made, or datagrams sent. */
function operationsOf(kind: TrafficKind, sample: RateSample): number {
  return kind === 'tcp-connect' ? (sample.detail.ok ?? 0) : (sample.detail.sent ?? 0);
}

/** Raw sums behind a CostBreakdown, kept until the run ends. */
interface CostTally {
  operations: number;
  programs: Map<string, { name: string; attachType: string; runs: number; ns: number }>;
  daemonCpuSeconds: number;
  daemonOperations: number;
  hasDaemon: boolean;
  errors: string[];
}

function newTally(): CostTally {
  return { operations: 0, programs: new Map(), daemonCpuSeconds: 0, daemonOperations: 0, hasDaemon: false, errors: [] };
}

function breakdownOf(tally: CostTally): CostBreakdown {
  return {
    operations: tally.operations,
    programs: [...tally.programs.values()].map((p) => programCost(p, p.runs, p.ns, tally.operations)),
    daemonCpuMsPerThousand:
      tally.hasDaemon && tally.daemonOperations > 0
        ? (tally.daemonCpuSeconds * 1000 * 1000) / tally.daemonOperations
        : null,
    daemonOperations: tally.daemonOperations,
    errors: tally.errors,
  };
}

/** One more firewall-lane slice with the BPF statistics on: what each attached program cost in it. */
async function statisticsSlice(
  sandbox: Sandbox,
  cgroup: string,
  tally: CostTally,
  run: () => Promise<RateSample>,
  kind: TrafficKind,
): Promise<void> {
  await withBpfStats(sandbox, async () => {
    const before = attachedPrograms(cgroup);
    const sample = await run();
    const after = attachedPrograms(cgroup);
    const operations = operationsOf(kind, sample);
    tally.operations += operations;
    for (const cost of programCosts(before, after, operations)) {
      const key = `${cost.attachType} ${cost.name}`;
      const entry = tally.programs.get(key) ?? { name: cost.name, attachType: cost.attachType, runs: 0, ns: 0 };
      entry.runs += cost.runs;
      entry.ns += cost.totalNs;
      tally.programs.set(key, entry);
    }
  });
}

function measure(
  loadgen: Loadgen,
  lab: Lab,
  lane: 'firewall' | 'baseline',
  path: TrafficPath,
  kind: TrafficKind,
  bounds: Bounds,
): Promise<RateSample> {
  return kind === 'tcp-connect'
    ? loadgen.tcpConnectRate(lab[lane], path, bounds)
    : loadgen.udpRate(lab[lane], path, bounds, 64);
}

async function attempt(run: () => Promise<RateSample>, errors: string[], where: string): Promise<RateSample | null> {
  try {
    return await run();
  } catch (error) {
    errors.push(`${where}: ${(error as Error).message}`);
    return null;
  }
}

/** The daemon's CPU seconds so far, or null (none, or it has gone). */
function daemonCpu(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return sampleProcess(pid).cpuSeconds;
  } catch {
    return null;
  }
}

function finish(entry: TrafficSeries): void {
  const firewall = entry.pairs.map((p) => p.firewall).filter((v): v is number => v !== null);
  const baseline = entry.pairs.map((p) => p.baseline).filter((v): v is number => v !== null);
  const ratios = entry.pairs
    .filter((p) => p.firewall !== null && p.baseline !== null)
    .map((p) => p.firewall! / p.baseline!);
  entry.rate = firewall.length > 0 ? summarize(firewall) : null;
  entry.baselineRate = baseline.length > 0 ? summarize(baseline) : null;
  entry.ratio = ratios.length > 0 ? summarize(ratios) : null;
}

export async function runTraffic(
  sandbox: Sandbox,
  loadgen: Loadgen,
  lab: Lab,
  contenders: Contender[],
  plan: TrafficPlan,
  log: (line: string) => void,
): Promise<TrafficResults> {
  const series: TrafficSeries[] = [];
  const order: string[][] = [];
  const facts = new Map<string, Record<string, unknown>>();
  const seriesFor = (path: TrafficPath, kind: TrafficKind, contender: string): TrafficSeries => {
    let entry = series.find((s) => s.path === path && s.kind === kind && s.contender === contender);
    if (!entry) {
      entry = { path, kind, contender, pairs: [], errors: [], rate: null, baselineRate: null, ratio: null };
      series.push(entry);
    }
    return entry;
  };
  for (const contender of contenders)
    for (const path of plan.paths) for (const kind of plan.kinds) seriesFor(path, kind, contender.id);
  const tallies = new Map<TrafficSeries, CostTally>();

  for (let rep = 0; rep < plan.repetitions; rep++) {
    const thisOrder = rotation(contenders, rep);
    order.push(thisOrder.map((c) => c.id));
    for (const contender of thisOrder) {
      try {
        await contender.start();
      } catch (error) {
        log(`rep ${rep + 1} ${contender.id}: could not start: ${(error as Error).message}`);
        for (const path of plan.paths)
          for (const kind of plan.kinds)
            seriesFor(path, kind, contender.id).errors.push(
              `rep ${rep + 1}: start failed: ${(error as Error).message}`,
            );
        await contender.stop(); // half-installed state must not leak into the next contender
        continue;
      }
      try {
        // Every TCP figure before any UDP one: a UDP flood can leave a queue-based firewall
        // (OpenSnitch) with a backlog, and that must not be charged to its TCP figures.
        for (const kind of plan.kinds) {
          for (const path of plan.paths) {
            const entry = seriesFor(path, kind, contender.id);
            for (let slice = 0; slice < plan.slices; slice++) {
              const where = `rep ${rep + 1} slice ${slice + 1}`;
              const lanes = slice % 2 === 0 ? (['baseline', 'firewall'] as const) : (['firewall', 'baseline'] as const);
              const pair: TrafficPair = { repetition: rep, firewall: null, baseline: null };
              for (const lane of lanes) {
                const pid = lane === 'firewall' ? (contender.costs?.daemonPid() ?? null) : null;
                const cpuBefore = daemonCpu(pid);
                const sample = await attempt(
                  () => measure(loadgen, lab, lane, path, kind, plan.bounds),
                  entry.errors,
                  `${where} ${lane} lane`,
                );
                pair[lane] = sample?.perSecond ?? null;
                const cpuAfter = daemonCpu(pid);
                if (sample && contender.costs && lane === 'firewall') {
                  const tally = tallies.get(entry) ?? newTally();
                  tallies.set(entry, tally);
                  if (cpuBefore !== null && cpuAfter !== null) {
                    tally.hasDaemon = true;
                    tally.daemonCpuSeconds += cpuAfter - cpuBefore;
                    tally.daemonOperations += operationsOf(kind, sample);
                  }
                }
              }
              entry.pairs.push(pair);
            }
            const costs = contender.costs;
            if (costs) {
              const tally = tallies.get(entry) ?? newTally();
              tallies.set(entry, tally);
              try {
                await statisticsSlice(
                  sandbox,
                  costs.cgroup,
                  tally,
                  () => measure(loadgen, lab, 'firewall', path, kind, plan.bounds),
                  kind,
                );
              } catch (error) {
                tally.errors.push(`rep ${rep + 1} statistics slice: ${(error as Error).message}`);
              }
            }
            const recent = entry.pairs.slice(-plan.slices).filter((p) => p.firewall !== null && p.baseline !== null);
            const ratio = recent.length > 0 ? summarize(recent.map((p) => p.firewall! / p.baseline!)).median : NaN;
            const rate = recent.length > 0 ? summarize(recent.map((p) => p.firewall!)).median : NaN;
            log(
              `rep ${rep + 1}/${plan.repetitions} ${contender.id.padEnd(14)} ${path.padEnd(8)} ${kind.padEnd(11)} ${Math.round(rate)}/s  ${ratio.toFixed(3)}x`,
            );
          }
        }
        facts.set(contender.id, contender.facts());
      } finally {
        await contender.stop();
      }
    }
  }
  series.forEach(finish);
  for (const [entry, tally] of tallies) entry.costs = breakdownOf(tally);
  return {
    plan,
    contenders: contenders.map((c) => ({ id: c.id, label: c.label, facts: facts.get(c.id) ?? {} })),
    order,
    series,
  };
}
