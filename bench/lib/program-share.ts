// What the programs' own run time predicts for a ratio: the kernel's statistics (ns per operation)
// against the time an operation takes without a firewall (the baseline lane's median rate). Far
// steadier than a measured ratio on a noisy machine, so a change's cost shows even where the
// no-firewall A/A check spreads wider than the change.
import type { TrafficSeries } from '../traffic.js';

export interface ProgramShare {
  /** All attached programs' ns per operation. */
  programNs: number;
  /** ns per operation without a firewall (1 / the baseline lane's median rate). */
  operationNs: number;
  /** The rate ratio if the programs' run time were the only cost: 1 / (1 + programNs / operationNs). */
  ratio: number;
}

export function programShare(series: TrafficSeries | undefined): ProgramShare | null {
  if (!series?.costs || !series.baselineRate || series.costs.programs.length === 0) return null;
  const programNs = series.costs.programs.reduce((sum, p) => sum + p.nsPerOperation, 0);
  const operationNs = 1e9 / series.baselineRate.median;
  return { programNs, operationNs, ratio: 1 / (1 + programNs / operationNs) };
}
