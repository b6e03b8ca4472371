// When did a change reach the kernel? A probe in the firewall lane connects to a sink over the veth
// every few milliseconds; the change under test blocks the sink's address, so the first connect a
// cgroup hook refuses (EPERM) is the moment the change was enforced, whatever the command that made
// it said and whenever it exited.
import type { Lane } from './lab.js';
import type { Loadgen } from './loadgen.js';

export interface EnforcementWatch {
  /** The address a change must block for the probe to see it (the lane's veth peer). */
  address: string;
  /**
   * Milliseconds from `calledNs` (CLOCK_MONOTONIC) until a connect was refused by a hook; null when
   * none was within `graceMs` of this call (the probe is stopped then), with the probe's errno.
   */
  enforcedSince(calledNs: number, graceMs: number): Promise<{ ms: number | null; errno?: number }>;
  stop(): Promise<void>;
}

const EPERM = 1;

export async function watchEnforcement(
  loadgen: Loadgen,
  lane: Lane,
  maxSeconds: number,
  intervalUs: number,
): Promise<EnforcementWatch> {
  const sink = await loadgen.startTcpSink(lane, 'veth', maxSeconds + 30);
  const probe = await loadgen.startProbe(lane, 'veth', sink.port, maxSeconds, intervalUs);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await sink.stop(); // the probe's next connect is refused by the stack and it reports
    await probe.result.catch(() => undefined);
  };
  return {
    address: lane.serverAddr,
    async enforcedSince(calledNs, graceMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), graceMs)));
      const result = await Promise.race([probe.result, late]);
      clearTimeout(timer);
      if (!result) {
        await stop();
        return { ms: null };
      }
      if (result.errno !== EPERM || result.failedAtNs === 0) return { ms: null, errno: result.errno };
      return { ms: Math.max(0, result.failedAtNs - calledNs) / 1e6 };
    },
    stop,
  };
}
