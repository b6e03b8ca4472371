// Gathers one metrics snapshot from the running helper: the stores' in-memory copies, the kernel's
// counters (read on a pool thread), the fan-out's loss counts and the per-app totals.
import type { Action, Settings } from '../../contract/index.js';
import type { Counters } from '../../../native/api.js';
import type { RulesEngine } from '../engine.js';
import type { EnforcementState } from '../enforcement.js';
import type { EventFanout } from '../event-fanout.js';
import type { AppTraffic } from '../flows/app-traffic.js';
import type { MetricsSnapshot, RuleSource, RuleTally } from './render.js';

export interface MetricsSources {
  version: string;
  startedAtMs: number;
  topApps: number;
  engine: Pick<
    RulesEngine,
    'rules' | 'lists' | 'apps' | 'lastApply' | 'lastApplyAt' | 'applyCount' | 'applyFailures'
  > & {
    settings: { get(): Settings };
  };
  enforcement: { readonly state: EnforcementState };
  fanout: Pick<EventFanout, 'eventsSeen' | 'queueDropped' | 'slowClientDropped' | 'subscriberCount'>;
  readCounters(): Promise<Counters>;
  /** Absent until the connections side runs. */
  appTraffic: () => AppTraffic | null;
}

export async function takeSnapshot(sources: MetricsSources): Promise<MetricsSnapshot> {
  const kernel = await sources.readCounters();
  const { engine, fanout } = sources;
  const tallies = new Map<string, RuleTally>();
  const count = (source: RuleSource, action: Action, enabled: boolean, n: number) => {
    const key = `${source} ${action} ${enabled}`;
    const tally = tallies.get(key) ?? { source, action, enabled, count: 0 };
    tally.count += n;
    tallies.set(key, tally);
  };
  for (const rule of engine.rules.list()) count(rule.managedBy ? 'policy' : 'user', rule.action, rule.enabled, 1);
  let pendingListEntries = 0;
  const lists = engine.lists.list();
  for (const list of lists) {
    count('list', list.action, list.enabled, list.remotes.length);
    pendingListEntries += list.pending.length;
  }
  const names = new Map(engine.apps.list().map((app) => [app.id, app.name]));
  const cpu = process.cpuUsage();
  const last = engine.lastApply;
  return {
    version: sources.version,
    nowMs: Date.now(),
    startedAtMs: sources.startedAtMs,
    enforcing: sources.enforcement.state.enforcing,
    defaultAction: engine.settings.get().defaultAction,
    rules: [...tallies.values()],
    pendingListEntries,
    lists: lists.length,
    appsKnown: names.size,
    kernel: {
      allowed: kernel.allowed,
      blocked: kernel.blocked,
      events: kernel.events,
      ringBufferDrops: kernel.eventDrops,
    },
    events: {
      seen: fanout.eventsSeen,
      queueDropped: fanout.queueDropped,
      slowClientDropped: fanout.slowClientDropped,
      subscribers: fanout.subscriberCount,
    },
    applies: {
      count: engine.applyCount,
      failures: engine.applyFailures,
      last:
        last && engine.lastApplyAt !== null
          ? { atMs: engine.lastApplyAt, durationMs: last.elapsedMs, generation: last.generation }
          : null,
    },
    process: { residentBytes: process.memoryUsage.rss(), cpuSeconds: (cpu.user + cpu.system) / 1e6 },
    apps: (sources.appTraffic()?.list() ?? []).map((app) => ({ ...app, name: names.get(app.appId) ?? null })),
    topApps: sources.topApps,
  };
}
