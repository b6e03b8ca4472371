// Kernel event times -> wall-clock times (the connections pipeline stamps ConnectionEvents with it).

/**
 * The kernel stamps events with CLOCK_MONOTONIC (bpf_ktime_get_ns); process.hrtime reads the same
 * clock, so the difference from now tells the wall time of the event.
 */
export function monotonicToWallMs(timeNs: bigint, nowWallMs = Date.now(), nowMonoNs = process.hrtime.bigint()): number {
  return nowWallMs - Number(nowMonoNs - timeNs) / 1e6;
}
