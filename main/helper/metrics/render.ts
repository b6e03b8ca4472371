// What the metrics endpoint says, from one snapshot of the helper (snapshot.ts gathers it): pure, so
// the names, types, units and the bound on per-app series are tested without a kernel.
//
// Per-app series are bounded: the `topApps` apps with the most traffic get their own labels, all
// others are summed into one series labelled app_id="other". Which apps are on top is decided at
// each scrape, so when an app moves into the top its share leaves "other" and that series can fall
// (rate() reads a fall as a counter reset); the total over all app series never falls.
import { DEFAULT_ACTIONS, type Action, type DefaultAction } from '../../contract/index.js';
import { renderFamilies, type MetricFamily, type Sample } from './exposition.js';

export type RuleSource = 'user' | 'policy' | 'list';

export interface RuleTally {
  source: RuleSource;
  action: Action;
  enabled: boolean;
  count: number;
}

export interface AppTrafficSample {
  appId: number;
  /** The app's display name (null: no app known, id 0 or an app since removed). */
  name: string | null;
  bytesOut: number;
  bytesIn: number;
  allowed: number;
  blocked: number;
}

export interface MetricsSnapshot {
  version: string;
  nowMs: number;
  startedAtMs: number;
  enforcing: boolean;
  defaultAction: DefaultAction;
  rules: readonly RuleTally[];
  /** An allow list's entries waiting for review (not enforced). */
  pendingListEntries: number;
  lists: number;
  appsKnown: number;
  /** The kernel's per-CPU counters, summed (since the programs were loaded). */
  kernel: { allowed: bigint; blocked: bigint; events: bigint; ringBufferDrops: bigint };
  events: { seen: number; queueDropped: number; slowClientDropped: number; subscribers: number };
  applies: {
    count: number;
    failures: number;
    last: { atMs: number; durationMs: number; generation: number } | null;
  };
  process: { residentBytes: number; cpuSeconds: number };
  apps: readonly AppTrafficSample[];
  topApps: number;
}

const ACTIONS: readonly Action[] = ['allow', 'block'];
const SOURCES: readonly RuleSource[] = ['user', 'policy', 'list'];

interface BoundedApps {
  /** The top apps and, last, the "other" bucket (always present, so its series is stable). */
  series: Array<{ labels: { app_id: string; app: string }; totals: Omit<AppTrafficSample, 'appId' | 'name'> }>;
  othersCount: number;
}

/** The `top` apps by bytes (then connections, then id) and one bucket summing the rest. */
export function boundApps(apps: readonly AppTrafficSample[], top: number): BoundedApps {
  const ranked = [...apps].sort(
    (a, b) =>
      b.bytesOut + b.bytesIn - (a.bytesOut + a.bytesIn) ||
      b.allowed + b.blocked - (a.allowed + a.blocked) ||
      a.appId - b.appId,
  );
  const other = { bytesOut: 0, bytesIn: 0, allowed: 0, blocked: 0 };
  for (const app of ranked.slice(top)) {
    other.bytesOut += app.bytesOut;
    other.bytesIn += app.bytesIn;
    other.allowed += app.allowed;
    other.blocked += app.blocked;
  }
  return {
    series: [
      ...ranked.slice(0, top).map((app) => ({
        labels: {
          app_id: String(app.appId),
          app: app.name ?? (app.appId === 0 ? '(unattributed)' : `app ${app.appId}`),
        },
        totals: { bytesOut: app.bytesOut, bytesIn: app.bytesIn, allowed: app.allowed, blocked: app.blocked },
      })),
      { labels: { app_id: 'other', app: '(other apps)' }, totals: other },
    ],
    othersCount: Math.max(0, ranked.length - top),
  };
}

const gauge = (name: string, help: string, samples: readonly Sample[]): MetricFamily => ({
  name,
  help,
  type: 'gauge',
  samples,
});
const counter = (name: string, help: string, samples: readonly Sample[]): MetricFamily => ({
  name,
  help,
  type: 'counter',
  samples,
});
const flag = (on: boolean): number => (on ? 1 : 0);

export function metricFamilies(snapshot: MetricsSnapshot): MetricFamily[] {
  const { kernel, events, applies } = snapshot;
  const tally = new Map(snapshot.rules.map((r) => [`${r.source} ${r.action} ${r.enabled}`, r.count]));
  const ruleSamples: Sample[] = [];
  for (const source of SOURCES)
    for (const action of ACTIONS)
      for (const enabled of [true, false])
        ruleSamples.push({
          labels: { source, action, enabled: String(enabled) },
          value: tally.get(`${source} ${action} ${enabled}`) ?? 0,
        });
  const apps = boundApps(snapshot.apps, snapshot.topApps);
  const families: MetricFamily[] = [
    gauge('portcullis_info', 'The running helper; always 1, its version as a label.', [
      { labels: { version: snapshot.version }, value: 1 },
    ]),
    gauge('portcullis_helper_uptime_seconds', 'Seconds since the helper started.', [
      { value: Math.max(0, (snapshot.nowMs - snapshot.startedAtMs) / 1000) },
    ]),
    gauge('process_start_time_seconds', 'Start time of the helper process since the Unix epoch, in seconds.', [
      { value: snapshot.startedAtMs / 1000 },
    ]),
    gauge('process_resident_memory_bytes', 'Resident memory of the helper process, in bytes.', [
      { value: snapshot.process.residentBytes },
    ]),
    counter('process_cpu_seconds_total', 'CPU time the helper process used (user and system), in seconds.', [
      { value: snapshot.process.cpuSeconds },
    ]),
    gauge('portcullis_enforcing', '1 while the firewall enforces its rules, 0 while it is off or paused.', [
      { value: flag(snapshot.enforcing) },
    ]),
    gauge(
      'portcullis_default_action',
      'What happens to traffic no rule decides: 1 on the current one (allow = monitor, block = allow-list mode, ask = held until a person answers).',
      DEFAULT_ACTIONS.map((action) => ({ labels: { action }, value: flag(snapshot.defaultAction === action) })),
    ),
    gauge(
      'portcullis_rules',
      'Rules stored, by source (user: made by people; policy: from policy files; list: list entries), action and whether enabled.',
      ruleSamples,
    ),
    gauge(
      'portcullis_list_entries_pending_review',
      "Entries of allow lists waiting for a person's review (not enforced).",
      [{ value: snapshot.pendingListEntries }],
    ),
    gauge('portcullis_lists', 'Lists (imports, subscriptions, policy files) stored.', [{ value: snapshot.lists }]),
    gauge('portcullis_apps_known', 'Applications the helper has identified and stored.', [
      { value: snapshot.appsKnown },
    ]),
    counter(
      'portcullis_decisions_total',
      'Verdicts reached in the kernel since the programs were loaded; block also counts packets dropped by a cached block.',
      [
        { labels: { verdict: 'allow' }, value: kernel.allowed },
        { labels: { verdict: 'block' }, value: kernel.blocked },
      ],
    ),
    counter(
      'portcullis_kernel_events_total',
      'Events the kernel programs queued for the helper since they were loaded.',
      [{ value: kernel.events }],
    ),
    counter(
      'portcullis_events_lost_total',
      'Events lost, by where: the kernel ring buffer was full (since the programs were loaded), the helper queue was full, or a slow client was dropped (since the helper started).',
      [
        { labels: { stage: 'ring_buffer' }, value: kernel.ringBufferDrops },
        { labels: { stage: 'helper_queue' }, value: events.queueDropped },
        { labels: { stage: 'slow_client' }, value: events.slowClientDropped },
      ],
    ),
    counter('portcullis_events_processed_total', 'Events the helper received from the kernel since it started.', [
      { value: events.seen },
    ]),
    gauge('portcullis_event_subscribers', 'Clients subscribed to the live event stream.', [
      { value: events.subscribers },
    ]),
    counter('portcullis_rule_applies_total', 'Rule changes the kernel took since the helper started.', [
      { value: applies.count },
    ]),
    counter('portcullis_rule_apply_failures_total', 'Rule changes the kernel refused since the helper started.', [
      { value: applies.failures },
    ]),
  ];
  if (applies.last) {
    families.push(
      gauge(
        'portcullis_last_apply_timestamp_seconds',
        'When the kernel last took a rule change, since the Unix epoch.',
        [{ value: applies.last.atMs / 1000 }],
      ),
      gauge(
        'portcullis_last_apply_duration_seconds',
        'How long the last rule change took to compile and reach the kernel, in seconds.',
        [{ value: applies.last.durationMs / 1000 }],
      ),
      gauge('portcullis_ruleset_generation', 'Generation number of the ruleset in the kernel.', [
        { value: applies.last.generation },
      ]),
    );
  }
  families.push(
    counter(
      'portcullis_app_traffic_bytes_total',
      `L4 payload bytes per app since the helper started, by direction; the ${snapshot.topApps} apps with the most traffic by name, the rest summed as app_id="other".`,
      apps.series.flatMap(({ labels, totals }) => [
        { labels: { ...labels, direction: 'sent' }, value: totals.bytesOut },
        { labels: { ...labels, direction: 'received' }, value: totals.bytesIn },
      ]),
    ),
    counter(
      'portcullis_app_connections_total',
      'Connections (and new datagram peers) per app since the helper started, by verdict; apps as in portcullis_app_traffic_bytes_total.',
      apps.series.flatMap(({ labels, totals }) => [
        { labels: { ...labels, verdict: 'allow' }, value: totals.allowed },
        { labels: { ...labels, verdict: 'block' }, value: totals.blocked },
      ]),
    ),
    gauge('portcullis_apps_in_other', 'Apps with traffic summed into the app_id="other" series.', [
      { value: apps.othersCount },
    ]),
  );
  return families;
}

export function renderMetrics(snapshot: MetricsSnapshot): string {
  return renderFamilies(metricFamilies(snapshot));
}
