// A firewall under test. Each is installed on the lab's firewall lane (its namespace or its test
// cgroup), measured, and removed again before the next one starts, so configurations interleave.

export interface Contender {
  /** Stable id used in the results JSON, e.g. "iptables-10k". */
  id: string;
  /** What the report calls it. */
  label: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Facts to publish with the figures: versions, modes, rule counts. */
  facts(): Record<string, unknown>;
  /** For a firewall made of BPF programs on the lane's cgroup: where its costs can be read. */
  costs?: CostSource;
}

/** What the cost breakdown (bench/lib/bpf-costs.ts) reads for a contender while it is installed. */
export interface CostSource {
  /** The cgroup whose attached programs are the contender's. */
  cgroup: string;
  /** Its daemon's process, whose CPU time is charged to it; null when none runs. */
  daemonPid(): number | null;
}

/** Human form of a rule count: 10, 1k, 10k, 1M. */
export function countLabel(count: number): string {
  if (count >= 1_000_000 && count % 1_000_000 === 0) return `${count / 1_000_000}M`;
  if (count >= 1000 && count % 1000 === 0) return `${count / 1000}k`;
  return String(count);
}
