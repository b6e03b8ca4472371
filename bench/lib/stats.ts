// Summaries of repeated measurements: min/median/max for rates and ratios, percentiles for latencies.

export interface Summary {
  n: number;
  min: number;
  median: number;
  max: number;
}

/** Linear-interpolated percentile (p in 0..100) of the values; throws on an empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new Error(`percentile must be within 0..100, got ${p}`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) throw new Error('summary of no values');
  return { n: values.length, min: Math.min(...values), median: percentile(values, 50), max: Math.max(...values) };
}

/** Pairwise ratios a[i] / b[i] of measurements taken in the same repetition. */
export function pairedRatios(values: readonly number[], baseline: readonly number[]): number[] {
  if (values.length !== baseline.length)
    throw new Error(`paired ratios need equal lengths, got ${values.length} and ${baseline.length}`);
  return values.map((value, i) => value / baseline[i]!);
}

/** The order of configurations in repetition r: rotated so each runs early and late equally often. */
export function rotation<T>(items: readonly T[], repetition: number): T[] {
  if (items.length === 0) return [];
  const offset = repetition % items.length;
  return [...items.slice(offset), ...items.slice(0, offset)];
}

/** A summary with its 50th and 99th percentiles, or null for no values. */
export function summarizeWithPercentiles(values: number[]): (Summary & { p50: number; p99: number }) | null {
  return values.length === 0
    ? null
    : { ...summarize(values), p50: percentile(values, 50), p99: percentile(values, 99) };
}
