// The metrics endpoint of a real helper: off unless named, never on the network, and what it says
// after real traffic in the test cgroup (a download by an app, a connect the kernel blocked) is
// the truth the kernel counted, in a text that Debian's promtool accepts; after a restart, the same
// address with the new helper's own counts beside the kernel's continuing ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess, runCli } from '../support/helper-process.js';
import { probeOne } from '../support/connect-probe.js';
import { promtoolCheckMetrics } from '../support/promtool.js';
import { PEER_SCRIPT, SYSTEM_PYTHON, TRAFFIC_SCRIPT, randomPort } from './connections-rig.js';
import { eventually } from '../support/eventually.js';

interface Scrape {
  status: number;
  contentType: string;
  body: string;
}

function scrape(
  target: { port: number } | { socketPath: string },
  options: { path?: string; host?: string; method?: string } = {},
): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }),
        path: options.path ?? '/metrics',
        method: options.method ?? 'GET',
        headers: options.host ? { host: options.host } : {},
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body }),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error('scrape timed out')));
    req.once('error', reject);
    req.end();
  });
}

/** One sample's value: the line of `name` whose labels include `labels` (exactly one must match). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const found = text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => {
      const got = new Map<string, string>();
      for (const m of line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) got.set(m[1]!, m[2]!);
      return Object.entries(labels).every(([k, v]) => got.get(k) === v);
    });
  assert.equal(found.length, 1, `${name} ${JSON.stringify(labels)}: ${found.length} lines match`);
  return Number(found[0]!.slice(found[0]!.lastIndexOf(' ') + 1));
}

/** Scrapes until the page shows `what` (bounded); a failure shows the per-app lines last seen. */
function scrapeUntil(
  target: Parameters<typeof scrape>[0],
  check: (text: string) => boolean,
  what: string,
): Promise<string> {
  return eventually(async () => (await scrape(target)).body, check, what, {
    timeoutMs: 15_000,
    everyMs: 250,
    describe: (text) =>
      `not there; per-app lines: ${JSON.stringify(text.split('\n').filter((line) => line.startsWith('portcullis_app_')))}`,
  });
}

/** What a process listens on: TCP ports and Unix socket paths (its fds matched against /proc/net). */
function listeners(pid: number): { tcp: number[]; unix: string[] } {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const tcp: number[] = [];
  for (const file of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${file}`, 'utf8').trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A' && inodes.has(cols[9]!)) tcp.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  const unix: string[] = [];
  for (const line of readFileSync(`/proc/${pid}/net/unix`, 'utf8').trim().split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if ((parseInt(cols[3]!, 16) & 0x10000) !== 0 && inodes.has(cols[6]!)) unix.push(cols[7] ?? '(unnamed)');
  }
  return { tcp, unix };
}

async function startPeer(sandbox: Sandbox, port: number): Promise<void> {
  const peer = spawn(SYSTEM_PYTHON, [PEER_SCRIPT, '127.0.0.1', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  sandbox.defer(() => {
    peer.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    peer.stdout!.once('data', () => resolve());
    peer.once('exit', (code) => reject(new Error(`peer exited ${code}`)));
  });
}

test('metrics on a loopback port count a real download and a real blocked connect, and promtool accepts them', () =>
  withSandbox(async (sandbox) => {
    const metricsPort = randomPort();
    const helper = await HelperProcess.start(sandbox, { args: ['--metrics', `127.0.0.1:${metricsPort}`] });
    assert.match(helper.logs, new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    const target = { port: metricsPort };

    const first = await scrape(target);
    assert.equal(first.status, 200);
    assert.equal(first.contentType, 'text/plain; version=0.0.4; charset=utf-8');
    const blockedBefore = sample(first.body, 'portcullis_decisions_total', { verdict: 'block' });
    assert.equal(sample(first.body, 'portcullis_enforcing'), 1);

    // An app in the test cgroup downloads 1 MiB, then tries a host a rule blocks.
    const client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.30' } });
    const appExe = join(sandbox.makeTempDir('metrics-app'), 'metrics-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const peerPort = randomPort();
    await startPeer(sandbox, peerPort);
    const download = await sandbox.runInCgroup(helper.paths.cgroup, [
      appExe,
      TRAFFIC_SCRIPT,
      'tcp-download',
      '127.0.0.1',
      String(peerPort),
      String(1024 * 1024),
    ]);
    assert.equal(download.code, 0, download.stderr);
    const received = (JSON.parse(download.stdout) as { received: number }).received;
    assert.equal(
      await probeOne(sandbox, helper.paths.cgroup, '127.0.0.30', 9, { exe: appExe, lingerMs: 300 }),
      'EPERM',
    );

    const app = { app: 'metrics-app' };
    const after = await scrapeUntil(
      target,
      (text) => {
        const has = (labels: Record<string, string>, name: string) =>
          text
            .split('\n')
            .some((l) => l.startsWith(name) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
        return (
          has({ ...app, verdict: 'block' }, 'portcullis_app_connections_total') &&
          sample(text, 'portcullis_app_traffic_bytes_total', { ...app, direction: 'received' }) >= received &&
          sample(text, 'portcullis_app_connections_total', { ...app, verdict: 'block' }) >= 1
        );
      },
      "the app's bytes and its blocked connect in the metrics",
    );
    const verdict = await promtoolCheckMetrics(after);
    assert.ok(verdict.ok, `promtool check metrics:\n${verdict.output}\n${after}`);

    assert.ok(
      sample(after, 'portcullis_decisions_total', { verdict: 'block' }) > blockedBefore,
      'the kernel counted the blocked connect',
    );
    assert.ok(sample(after, 'portcullis_decisions_total', { verdict: 'allow' }) >= 1);
    // The download's bytes: the app received what it counted itself (plus nothing from elsewhere).
    const bytesIn = sample(after, 'portcullis_app_traffic_bytes_total', { ...app, direction: 'received' });
    assert.ok(bytesIn >= received && bytesIn <= received * 1.01, `${bytesIn} received bytes vs ${received} counted`);
    assert.equal(sample(after, 'portcullis_app_connections_total', { ...app, verdict: 'block' }), 1);
    assert.ok(sample(after, 'portcullis_app_connections_total', { ...app, verdict: 'allow' }) >= 1);
    assert.equal(sample(after, 'portcullis_rules', { source: 'user', action: 'block', enabled: 'true' }), 1);
    assert.ok(sample(after, 'portcullis_rule_applies_total') >= 2);
    assert.ok(sample(after, 'portcullis_last_apply_timestamp_seconds') * 1000 > Date.now() - 120_000);
    assert.ok(sample(after, 'portcullis_last_apply_duration_seconds') >= 0);
    assert.ok(sample(after, 'process_resident_memory_bytes') > 10_000_000);
    assert.equal(sample(after, 'portcullis_events_lost_total', { stage: 'ring_buffer' }), 0);

    // Only /metrics, only GET/HEAD, only for a loopback Host (a rebound web page's name is refused).
    assert.equal((await scrape(target, { path: '/' })).status, 404);
    assert.equal((await scrape(target, { method: 'POST' })).status, 405);
    assert.equal((await scrape(target, { host: `attacker.example:${metricsPort}` })).status, 421);
    assert.equal((await scrape(target, { host: `localhost:${metricsPort}` })).status, 200);
    const head = await scrape(target, { method: 'HEAD' });
    assert.deepEqual([head.status, head.body], [200, '']);
  }));

test('off by default (the helper listens on its own socket only); a Unix socket when named; a taken port or a network address refused', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    assert.deepEqual(listeners(helper.pid!), { tcp: [], unix: [helper.paths.socket] });
    assert.doesNotMatch(helper.logs, /metrics:/);

    const metricsSocket = join(helper.paths.socket, '..', 'metrics.sock');
    helper.args = ['--metrics', metricsSocket];
    await helper.restart();
    assert.deepEqual(listeners(helper.pid!).unix.sort(), [metricsSocket, helper.paths.socket].sort());
    assert.equal(statSync(metricsSocket).uid, 0);
    const viaSocket = await scrape({ socketPath: metricsSocket });
    assert.equal(viaSocket.status, 200);
    const verdict = await promtoolCheckMetrics(viaSocket.body);
    assert.ok(verdict.ok, verdict.output);
    assert.equal(sample(viaSocket.body, 'portcullis_apps_in_other'), 0);
    await helper.stop('SIGTERM');

    const helperWith = (metrics: string) =>
      runCli([
        'helper',
        '--cgroup',
        helper.paths.cgroup,
        '--bpffs',
        helper.paths.bpffs,
        '--state-dir',
        helper.paths.stateDir,
        '--socket',
        helper.paths.socket,
        '--metrics',
        metrics,
      ]);
    // A port someone else holds stops the start before anything is loaded (and the helper exits).
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    sandbox.defer(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const takenPort = (taken.address() as AddressInfo).port;
    const busy = await helperWith(`127.0.0.1:${takenPort}`);
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(
      busy.stderr,
      new RegExp(`metrics: cannot listen on http://127\\.0\\.0\\.1:${takenPort}/metrics: EADDRINUSE`),
    );
    assert.doesNotMatch(busy.stderr, /loaded and attached|adopted pinned/);

    // Refused before anything is loaded, with the reason, for every address off the loopback.
    for (const address of ['0.0.0.0:9464', '[::]:9464', '192.0.2.1:9464', 'localhost:9464']) {
      const refused = await helperWith(address);
      assert.equal(refused.code, 2, `${address}: ${refused.stderr}`);
      assert.match(
        refused.stderr,
        new RegExp(`--metrics: "${address.replace(/[[\]]/g, '\\$&')}" does not name a loopback address`),
      );
    }
  }));

/** Whether a series of `name` with these labels is on the page. */
function hasSample(text: string, name: string, labels: Record<string, string>): boolean {
  return text
    .split('\n')
    .some(
      (line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)),
    );
}

test("across a helper restart the endpoint returns on the same address: the helper's counters start over, the kernel's go on, promtool accepts it", () =>
  withSandbox(async (sandbox) => {
    const metricsPort = randomPort();
    const helper = await HelperProcess.start(sandbox, { args: ['--metrics', `127.0.0.1:${metricsPort}`] });
    const target = { port: metricsPort };
    const client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.31' } });
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.32' } });
    const appExe = join(sandbox.makeTempDir('restart-app'), 'restart-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const blockedConnect = () =>
      probeOne(sandbox, helper.paths.cgroup, '127.0.0.31', 9, { exe: appExe, lingerMs: 300 });
    const app = { app: 'restart-app', verdict: 'block' };
    const appBlocked = (count: number) => (text: string) =>
      hasSample(text, 'portcullis_app_connections_total', app) &&
      sample(text, 'portcullis_app_connections_total', app) >= count;

    assert.equal(await blockedConnect(), 'EPERM');
    assert.equal(await blockedConnect(), 'EPERM');
    const before = await scrapeUntil(target, appBlocked(2), "the app's two blocked connects in the metrics");
    client.close();

    await helper.restart();
    assert.equal(
      helper.logs.match(new RegExp(`metrics: serving http://127\\.0\\.0\\.1:${metricsPort}/metrics`, 'g'))?.length,
      2,
    );
    const page = await scrape(target);
    assert.equal(page.status, 200);
    const after = page.body;
    const verdict = await promtoolCheckMetrics(after);
    assert.ok(verdict.ok, `promtool check metrics after the restart:\n${verdict.output}\n${after}`);

    // The new process's own counts: its start, its rule applies, its events, its per-app totals.
    assert.ok(sample(after, 'process_start_time_seconds') > sample(before, 'process_start_time_seconds'));
    assert.ok(
      sample(after, 'portcullis_helper_uptime_seconds') < sample(before, 'portcullis_helper_uptime_seconds') + 1,
    );
    const appliesBefore = sample(before, 'portcullis_rule_applies_total');
    const appliesAfter = sample(after, 'portcullis_rule_applies_total');
    assert.ok(appliesAfter < appliesBefore, `applies ${appliesBefore} before, ${appliesAfter} after the restart`);
    assert.ok(
      sample(after, 'portcullis_events_processed_total') < sample(before, 'portcullis_events_processed_total'),
      'events processed count from the new helper',
    );
    assert.equal(hasSample(after, 'portcullis_app_connections_total', app), false, 'no per-app totals yet');
    // The stored state, and the kernel's counters: the pinned programs were adopted, not reloaded.
    assert.equal(sample(after, 'portcullis_rules', { source: 'user', action: 'block', enabled: 'true' }), 2);
    assert.ok(
      sample(after, 'portcullis_decisions_total', { verdict: 'block' }) >=
        sample(before, 'portcullis_decisions_total', { verdict: 'block' }),
      'the kernel counts on across the restart',
    );

    // New traffic counts from the new helper's zero: one blocked connect is one, not three.
    assert.equal(await blockedConnect(), 'EPERM');
    const later = await scrapeUntil(target, appBlocked(1), 'the blocked connect after the restart');
    assert.equal(sample(later, 'portcullis_app_connections_total', app), 1);
  }));
