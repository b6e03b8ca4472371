import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  boundApps,
  renderMetrics,
  type AppTrafficSample,
  type MetricsSnapshot,
} from '../../../../main/helper/metrics/render.js';
import { promtoolCheckMetrics } from '../../../support/promtool.js';

function snapshot(apps: AppTrafficSample[], topApps: number): MetricsSnapshot {
  return {
    version: '1.2.3',
    nowMs: 1_700_000_100_000,
    startedAtMs: 1_700_000_000_000,
    enforcing: true,
    defaultAction: 'block',
    rules: [
      { source: 'user', action: 'block', enabled: true, count: 4 },
      { source: 'list', action: 'block', enabled: true, count: 1_000_000 },
      { source: 'list', action: 'allow', enabled: false, count: 7 },
    ],
    pendingListEntries: 3,
    lists: 2,
    appsKnown: apps.length,
    kernel: { allowed: 120n, blocked: 9n, events: 129n, ringBufferDrops: 2n },
    events: { seen: 127, queueDropped: 1, slowClientDropped: 0, subscribers: 2 },
    applies: { count: 5, failures: 1, last: { atMs: 1_700_000_050_000, durationMs: 2900, generation: 17 } },
    process: { residentBytes: 150_000_000, cpuSeconds: 12.5 },
    apps,
    topApps,
  };
}

const manyApps = (n: number): AppTrafficSample[] =>
  Array.from({ length: n }, (_, i) => ({
    appId: i + 1,
    name: `app "${i}"\n\\`,
    bytesOut: (i % 97) * 1000,
    bytesIn: i * 10,
    allowed: i % 5,
    blocked: i % 3,
  }));

/** The samples of one family as [labels, value] pairs. */
function samples(text: string, name: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => {
      const at = line.lastIndexOf(' ');
      return [line.slice(name.length, at), line.slice(at + 1)];
    });
}

test('per-app series stay bounded: the top N by bytes, then one "other" bucket summing the rest', () => {
  const apps = manyApps(5000);
  const bounded = boundApps(apps, 20);
  assert.equal(bounded.series.length, 21);
  assert.equal(bounded.othersCount, 4980);
  assert.deepEqual(bounded.series.at(-1)!.labels, { app_id: 'other', app: '(other apps)' });
  const bytes = (a: { bytesOut: number; bytesIn: number }) => a.bytesOut + a.bytesIn;
  const top = bounded.series.slice(0, 20).map((s) => bytes(s.totals));
  assert.deepEqual(
    top,
    [...top].sort((a, b) => b - a),
    'ranked by traffic',
  );
  const lowestTop = Math.min(...top);
  assert.ok(
    apps
      .filter((a) => !bounded.series.some((s) => s.labels.app_id === String(a.appId)))
      .every((a) => bytes(a) <= lowestTop),
    'nothing left out has more traffic than what is in',
  );
  for (const key of ['bytesOut', 'bytesIn', 'allowed', 'blocked'] as const) {
    const total = apps.reduce((sum, a) => sum + a[key], 0);
    assert.equal(
      bounded.series.reduce((sum, s) => sum + s.totals[key], 0),
      total,
      `${key}: nothing lost or counted twice`,
    );
  }

  const text = renderMetrics(snapshot(apps, 20));
  assert.equal(samples(text, 'portcullis_app_traffic_bytes_total').length, 42);
  assert.equal(samples(text, 'portcullis_app_connections_total').length, 42);
  assert.ok(text.length < 20_000, `the whole page stays small with 5000 apps (${text.length} bytes)`);
});

test('few apps: each its own series, the "other" bucket at zero; unknown apps are named as such', () => {
  const bounded = boundApps(
    [
      { appId: 0, name: null, bytesOut: 5, bytesIn: 0, allowed: 1, blocked: 0 },
      { appId: 9, name: null, bytesOut: 0, bytesIn: 0, allowed: 0, blocked: 2 },
    ],
    20,
  );
  assert.deepEqual(
    bounded.series.map((s) => s.labels),
    [
      { app_id: '0', app: '(unattributed)' },
      { app_id: '9', app: 'app 9' },
      { app_id: 'other', app: '(other apps)' },
    ],
  );
  assert.deepEqual(bounded.series[2]!.totals, { bytesOut: 0, bytesIn: 0, allowed: 0, blocked: 0 });
  assert.equal(bounded.othersCount, 0);
});

test('the page: counters from the kernel and the helper, health, rules by source/action/enabled; promtool accepts it', async () => {
  const text = renderMetrics(snapshot(manyApps(50), 10));
  assert.deepEqual(samples(text, 'portcullis_decisions_total'), [
    ['{verdict="allow"}', '120'],
    ['{verdict="block"}', '9'],
  ]);
  assert.deepEqual(samples(text, 'portcullis_events_lost_total'), [
    ['{stage="ring_buffer"}', '2'],
    ['{stage="helper_queue"}', '1'],
    ['{stage="slow_client"}', '0'],
  ]);
  assert.deepEqual(samples(text, 'portcullis_rules').length, 12, 'every source × action × enabled, zeros included');
  assert.deepEqual(
    samples(text, 'portcullis_rules').filter(([, v]) => v !== '0'),
    [
      ['{source="user",action="block",enabled="true"}', '4'],
      ['{source="list",action="allow",enabled="false"}', '7'],
      ['{source="list",action="block",enabled="true"}', '1000000'],
    ],
  );
  assert.deepEqual(samples(text, 'portcullis_default_action'), [
    ['{action="allow"}', '0'],
    ['{action="block"}', '1'],
    ['{action="ask"}', '0'],
  ]);
  assert.deepEqual(samples(text, 'portcullis_helper_uptime_seconds'), [['', '100']]);
  assert.deepEqual(samples(text, 'portcullis_last_apply_duration_seconds'), [['', '2.9']]);
  assert.deepEqual(samples(text, 'portcullis_last_apply_timestamp_seconds'), [['', '1700000050']]);
  assert.match(
    text,
    /^portcullis_app_traffic_bytes_total\{app_id="\d+",app="app \\"\d+\\"\\n\\\\",direction="sent"\} \d+$/m,
  );
  for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE ')))
    assert.equal(line.endsWith(' counter'), / \w+_total /.test(line + ' '), line);
  const verdict = await promtoolCheckMetrics(text);
  assert.ok(verdict.ok, verdict.output);
});

test('before the first apply the last-apply gauges are absent, not zero', () => {
  const text = renderMetrics({ ...snapshot([], 20), applies: { count: 0, failures: 0, last: null } });
  assert.doesNotMatch(text, /portcullis_last_apply/);
  assert.match(text, /^portcullis_rule_applies_total 0$/m);
});
