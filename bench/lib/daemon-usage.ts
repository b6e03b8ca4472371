// The firewall's own process at idle, at a paced 1k new connections/s and (Portcullis) flat out:
// its CPU share and RSS, and the decision events the helper took in.
import type { Contender } from '../contenders/contender.js';
import type { ControlPlanePlan } from './control-plane-plan.js';
import type { Lab } from './lab.js';
import type { Loadgen } from './loadgen.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { measureUsage, type UsageWindow } from './proc-usage.js';

export interface UsageFigure {
  firewall: string;
  idle: UsageWindow | null;
  /** The same paced load run (unmeasured) before the idle and load windows; absent in older results. */
  warmUpMs?: number;
  underLoad: (UsageWindow & { connectsPerSecond: number; achievedPerSecond: number }) | null;
  /** Portcullis: connects as fast as one client can, and the decision events the helper took in meanwhile. */
  flatOut?: UsageWindow & { achievedPerSecond: number; eventsPerSecond: number; eventDrops: number };
  error?: string;
}

/** What the helper says it has taken in: events seen and dropped so far. */
export type EventCounts = () => Promise<{ seen: number; drops: number }>;

export async function measureDaemonUsage(
  loadgen: Loadgen,
  lab: Lab,
  firewall: string,
  contender: Contender,
  pid: () => number | undefined,
  plan: ControlPlanePlan,
  log: (line: string) => void,
  eventCounts?: EventCounts,
): Promise<UsageFigure> {
  const figure: UsageFigure = { firewall, idle: null, underLoad: null };
  try {
    await contender.start();
    const daemon = pid();
    if (!daemon) throw new Error(`no ${firewall} process to measure`);
    // A firewall runs for hours: what counts is its steady state, not its first seconds (V8 still
    // compiling the helper's hot paths; bench/helper-rss.ts reports those apart). So the same load
    // runs first, unmeasured, and idle is measured after it.
    figure.warmUpMs = plan.usageWindowMs * 2;
    const warmUp = loadgen.pacedConnects(lab.firewall, 'veth', figure.warmUpMs, plan.connectsPerSecond);
    await warmUp.done;
    await warmUp.stop();
    await sleep(1000); // the last events drained
    figure.idle = await measureUsage(daemon, plan.usageWindowMs);
    const load = loadgen.pacedConnects(lab.firewall, 'veth', plan.usageWindowMs, plan.connectsPerSecond);
    let achieved = 0;
    const underLoad = await measureUsage(daemon, async () => {
      const result = await load.done;
      achieved = result.ok / (result.elapsedNs / 1e9);
    });
    await load.stop();
    figure.underLoad = { ...underLoad, connectsPerSecond: plan.connectsPerSecond, achievedPerSecond: achieved };
    if (eventCounts) {
      const before = await eventCounts();
      const began = performance.now();
      let flatOutRate = 0;
      const usage = await measureUsage(daemon, async () => {
        flatOutRate = (
          await loadgen.tcpConnectRate(lab.firewall, 'loopback', {
            durationMs: plan.usageWindowMs,
            maxCount: 10_000_000,
          })
        ).perSecond;
      });
      await sleep(300); // the helper drains what the ring buffer still holds
      const after = await eventCounts();
      const seconds = (performance.now() - began) / 1000;
      figure.flatOut = {
        ...usage,
        achievedPerSecond: flatOutRate,
        eventsPerSecond: (after.seen - before.seen) / seconds,
        eventDrops: after.drops - before.drops,
      };
    }
  } catch (error) {
    figure.error = (error as Error).message;
  } finally {
    await contender.stop();
  }
  if (figure.flatOut)
    log(
      `usage ${firewall} flat out: ${figure.flatOut.achievedPerSecond.toFixed(0)} connects/s, ${figure.flatOut.eventsPerSecond.toFixed(0)} events/s into the helper, ${figure.flatOut.eventDrops} dropped, ${figure.flatOut.cpuPercent.toFixed(1)}% CPU`,
    );
  log(
    `usage ${firewall}: idle ${figure.idle?.cpuPercent.toFixed(1)}% CPU, ${figure.idle?.rssMiB.toFixed(0)} MiB; at ${plan.connectsPerSecond}/s ${figure.underLoad?.cpuPercent.toFixed(1)}% CPU, ${figure.underLoad?.rssMiB.toFixed(0)} MiB (achieved ${figure.underLoad?.achievedPerSecond.toFixed(0)}/s)`,
  );
  return figure;
}
