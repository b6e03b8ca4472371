// Restarts: a clean stop leaves enforcement pinned and a new helper adopts it with the same rules;
// kill -9 never opens a gap (a probe loop runs throughout); acknowledged writes survive kill -9; a
// paged connection list's cursor does not outlive the helper that gave it, while the flows do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeConnect, probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import Database from 'better-sqlite3';
import { PortcullisError, type Flow, type FlowPage, type Rule } from '../../main/contract/index.js';

const comparable = (rules: Rule[]) => rules.map(({ hits: _hits, ...rest }) => rest);

test('SIGTERM keeps enforcing while stopped; the restarted helper adopts the pins with the same rules and enforcement', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const probe = (address: string, port = 9) => probeOne(sandbox, helper.paths.cgroup, address, port);
    const client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.20' } });
    await client.call('rules.add', {
      rule: { action: 'block', remote: '127.3.0.0/16', port: '80-90', protocol: 'tcp', note: 'kept' },
    });
    const before = await client.call('rules.list');
    assert.equal((await client.call('status')).attach.adopted, false);
    client.close();

    assert.equal(await helper.stop('SIGTERM'), 0);
    assert.match(helper.logs, /SIGTERM: stopping; the pinned programs keep enforcing/);
    assert.equal(await probe('127.0.0.20'), 'EPERM', 'enforcement continues with no helper');
    assert.equal(await probe('127.3.1.1', 85), 'EPERM');

    await helper.launch();
    const again = await helper.client();
    const status = await again.call('status');
    assert.equal(status.attach.adopted, true);
    assert.equal(status.enforcing, true);
    assert.deepEqual(comparable(await again.call('rules.list')), comparable(before));
    assert.equal(await probe('127.0.0.20'), 'EPERM');
    assert.equal(await probe('127.3.1.1', 91), 'refused');

    // Enforcement off is remembered as well.
    await again.call('enforcement.set', { enabled: false });
    again.close();
    await helper.restart();
    const third = await helper.client();
    assert.equal((await third.call('status')).enforcing, false);
    assert.equal(await probe('127.0.0.20'), 'refused');
    await third.call('enforcement.set', { enabled: true });
    assert.equal(await probe('127.0.0.20'), 'EPERM');
  }));

// Connects in a loop until told to stop (a file appears), bounded in count and time; counts results.
const LOOP_SCRIPT = `
import errno, json, os, socket, sys, time
blocked, allowed, stop_file = sys.argv[1], sys.argv[2], sys.argv[3]
counts = {'blocked': {}, 'allowed': {}}
deadline = time.time() + 60
for i in range(20000):
    if os.path.exists(stop_file) or time.time() > deadline:
        break
    for label, host in (('blocked', blocked), ('allowed', allowed)):
        s = socket.socket(); s.settimeout(1.0)
        try:
            s.connect((host, 9)); r = 'connected'
        except OSError as e:
            r = 'refused' if e.errno == errno.ECONNREFUSED else errno.errorcode.get(e.errno, str(e.errno))
        s.close()
        counts[label][r] = counts[label].get(r, 0) + 1
    if i == 0:
        print('started', flush=True)
    time.sleep(0.002)
print(json.dumps(counts), flush=True)
`;

test('kill -9: a probe loop during the restart never gets through; the new helper adopts the pins', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.21' } });
    client.close();

    const stopFile = join(sandbox.makeTempDir('loop'), 'stop');
    const loop = sandbox.spawnInCgroup(helper.paths.cgroup, [
      SYSTEM_PYTHON,
      '-c',
      LOOP_SCRIPT,
      '127.0.0.21',
      '127.0.0.22',
      stopFile,
    ]);
    let output = '';
    loop.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const done = new Promise<void>((resolve) => loop.once('close', () => resolve()));
    while (!output.includes('started')) await new Promise((resolve) => setTimeout(resolve, 20));

    await helper.stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the loop runs with no helper at all
    await helper.launch();
    const again = await helper.client();
    const status = await again.call('status');
    await new Promise((resolve) => setTimeout(resolve, 300));
    writeFileSync(stopFile, '');
    await done;

    const counts = JSON.parse(output.split('\n').filter(Boolean).pop()!) as {
      blocked: Record<string, number>;
      allowed: Record<string, number>;
    };
    assert.deepEqual(
      Object.keys(counts.blocked),
      ['EPERM'],
      `blocked target results: ${JSON.stringify(counts.blocked)}`,
    );
    assert.ok(counts.blocked.EPERM! > 10, `the loop ran throughout (${counts.blocked.EPERM} probes)`);
    assert.deepEqual(
      Object.keys(counts.allowed),
      ['refused'],
      `allowed target results: ${JSON.stringify(counts.allowed)}`,
    );
    assert.equal(status.attach.adopted, true);
    assert.equal(status.ruleCount, 1);
  }));

test('durability: kill -9 during a burst of 1000 block calls loses none that were acknowledged', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const CLIENTS = 4;
    const TOTAL = 1000;
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => helper.client(`burst-${i}`)));
    const acknowledged = new Map<number, string>();
    let next = 0;
    let failed = 0;
    let killed = false;
    const killAt = 300 + Math.floor(Math.random() * 400);
    const worker = async (index: number) => {
      while (next < TOTAL) {
        const i = next++;
        const remote = `10.77.${i >> 8}.${i & 255}`;
        try {
          const rule = await clients[index]!.call('rules.add', { rule: { action: 'block', remote } });
          acknowledged.set(rule.id, remote);
          if (acknowledged.size >= killAt && !killed) {
            killed = true;
            void helper.stop('SIGKILL');
          }
        } catch {
          failed++;
          if (!killed) throw new Error('a call failed before the kill');
        }
      }
    };
    await Promise.all(clients.map((_, i) => worker(i)));
    assert.ok(killed, 'the helper was killed during the burst');
    assert.ok(failed > 0, 'calls after the kill failed');
    await helper.stop('SIGKILL');
    await helper.launch();
    const client = await helper.client('after');
    const stored = new Map(
      (await client.call('rules.list')).map((rule) => [
        rule.id,
        rule.remote.kind === 'address' ? rule.remote.text : '',
      ]),
    );
    for (const [id, remote] of acknowledged)
      assert.equal(stored.get(id), remote, `acknowledged rule ${id} (${remote}) survived`);
    assert.ok(
      stored.size >= acknowledged.size && stored.size <= acknowledged.size + CLIENTS,
      `at most the in-flight calls were committed unacknowledged (${stored.size} stored, ${acknowledged.size} acknowledged)`,
    );
    // And the restarted helper enforces them.
    const [firstId, firstRemote] = [...acknowledged][0]!;
    assert.ok(firstId > 0);
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, firstRemote, 9), 'EPERM');
    assert.ok(existsSync(join(helper.paths.stateDir, 'portcullis.db')));
  }));

test('a pause survives a restart, and one that ran out while the helper was stopped ends at start-up', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const probe = () => probeOne(sandbox, helper.paths.cgroup, '127.0.0.23', 9);
    let client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.23' } });
    const paused = await client.call('enforcement.set', { enabled: false, pauseMinutes: 30 });
    assert.ok(paused.pausedUntil !== null);
    client.close();
    await helper.restart();
    client = await helper.client();
    const after = await client.call('status');
    assert.deepEqual([after.enforcing, after.pausedUntil], [false, paused.pausedUntil]);
    client.close();
    await helper.stop('SIGTERM');
    assert.equal(await probe(), 'refused', 'paused while stopped');

    // Time passes while the helper is away: the stored pause ends before it starts again.
    const db = new Database(join(helper.paths.stateDir, 'portcullis.db'));
    db.prepare("UPDATE helper_state SET value = ? WHERE key = 'pausedUntil'").run(JSON.stringify(Date.now() - 1000));
    db.close();
    await helper.launch();
    client = await helper.client();
    const resumed = await client.call('status');
    assert.deepEqual([resumed.enforcing, resumed.pausedUntil], [true, null]);
    assert.equal(await probe(), 'EPERM');
    assert.match(helper.logs, /^portcullis-helper: enforcement on$/m, 'the helper says it resumed');
  }));

test('a connections.page cursor from before a restart is refused as unknown or expired; a fresh list pages the stored flows', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const ports = [9, 10, 11, 12, 13];
    const probed = await probeConnect(
      sandbox,
      helper.paths.cgroup,
      ports.map((port) => ({ host: '127.0.0.1', port })),
    );
    assert.deepEqual(
      probed,
      ports.map(() => 'refused'),
    );
    const query = { remote: '127.0.0.1', pageSize: 2 };
    const client = await helper.client();
    let first: FlowPage | null = null;
    for (let i = 0; i < 50 && (first?.total ?? 0) < ports.length; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 200));
      first = await client.call('connections.page', query);
    }
    assert.equal(first!.total, ports.length, 'one flow per probed port');
    assert.equal(first!.flows.length, 2);
    const cursor = first!.cursor;
    assert.ok(cursor, 'more pages follow');

    await helper.restart();
    await assert.rejects(client.call('connections.page', { cursor, pageSize: 2 }), (error: PortcullisError) => {
      assert.equal(error.kind, 'unavailable', 'the old connection ended with the old helper');
      return true;
    });
    const again = await helper.client();
    await assert.rejects(again.call('connections.page', { cursor, pageSize: 2 }), (error: PortcullisError) => {
      assert.equal(error.kind, 'not-found');
      assert.match(error.message, /unknown or expired .*list again from the first page/);
      return true;
    });

    // A fresh list: the same stored flows, page after page to the end.
    const flows: Flow[] = [];
    let page = await again.call('connections.page', query);
    assert.equal(page.total, ports.length);
    flows.push(...page.flows);
    for (let i = 0; page.cursor && i < ports.length; i++) {
      page = await again.call('connections.page', { cursor: page.cursor, pageSize: 2 });
      flows.push(...page.flows);
    }
    assert.equal(page.cursor, null);
    assert.deepEqual(
      flows.map((flow) => flow.remotePort).sort((a, b) => a - b),
      ports,
    );
  }));
