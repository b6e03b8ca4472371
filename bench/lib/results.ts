// The shape of bench/results/<date>.json: one run, everything measured in it, and the other
// engineers' benchmark outputs folded in as they were found.
import type { ControlPlaneResults } from '../control-plane.js';
import type { TrafficResults } from '../traffic.js';
import type { FoldedResult } from './fold.js';
import type { Machine } from './machine.js';

export interface BenchResults {
  schema: 1;
  smoke: boolean;
  /** BENCH_ONLY's contenders: a partial run at full size (traffic only), kept out of bench/results. */
  partial?: string[];
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  traffic: TrafficResults;
  /** null when Portcullis could not run (its addon not built). */
  controlPlane: ControlPlaneResults | null;
  /** Outputs of bench/datapath*, bench/events*, bench/helper-rss*, bench/ui* (newest file of each). */
  folded: FoldedResult[];
}

/** Smoke and partial runs write their report beside their JSON, away from bench/results. */
export function keptApart(results: BenchResults): boolean {
  return results.smoke || results.partial !== undefined;
}
