// Kernel decisions (native DecisionEvent) -> the contract's ConnectionEvent.
import type { ConnectionEvent } from '../contract/index.js';
import type { DecisionEvent } from '../../native/api.js';

/**
 * The kernel stamps events with CLOCK_MONOTONIC (bpf_ktime_get_ns); process.hrtime reads the same
 * clock, so the difference from now tells the wall time of the event.
 */
export function monotonicToWallMs(timeNs: bigint, nowWallMs = Date.now(), nowMonoNs = process.hrtime.bigint()): number {
  return nowWallMs - Number(nowMonoNs - timeNs) / 1e6;
}

export function toConnectionEvents(events: readonly DecisionEvent[]): ConnectionEvent[] {
  const nowWallMs = Date.now();
  const nowMonoNs = process.hrtime.bigint();
  return events
    .filter((event) => event.kind !== 'listen' && event.kind !== 'close')
    .map((event) => ({
      time: Math.round(monotonicToWallMs(event.timeNs, nowWallMs, nowMonoNs)),
      appId: event.appId,
      pid: event.tgid,
      uid: event.uid,
      comm: event.comm,
      remoteAddr: event.remoteAddr,
      remoteName: null,
      remotePort: event.remotePort,
      localPort: event.localPort,
      protocol: event.protocol,
      direction: event.direction,
      verdict: event.verdict,
      ruleId: event.ruleId === 0 ? null : event.ruleId,
    }));
}
