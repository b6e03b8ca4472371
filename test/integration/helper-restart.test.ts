// Restarts: a clean stop leaves enforcement pinned and a new helper adopts it with the same rules;
// kill -9 never opens a gap (a probe loop runs throughout), nor does an upgrade whose maps changed; acknowledged writes survive kill -9; a
// paged connection list's cursor does not outlive the helper that gave it, while the flows do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { attachedPrograms } from '../support/cgroup-programs.js';
import { pinMap, pinStrayMap } from '../support/pinned-maps.js';
import { REPO_ROOT } from '../support/node-entry.js';
import { removePins } from '../../main/install/uninstall.js';
import { pinsOf } from '../../main/install/bundle.js';
import { Firewall } from '../../native/index.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeConnect, probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import Database from 'better-sqlite3';
import { PortcullisError, type Flow, type Rule } from '../../main/contract/index.js';
import { eventually } from '../support/eventually.js';

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

interface LoopCounts {
  blocked: Record<string, number>;
  allowed: Record<string, number>;
}

/**
 * Starts LOOP_SCRIPT in the helper's cgroup against a blocked and an allowed address; `stop` ends
 * it and answers what each connect got.
 */
async function startProbeLoop(
  sandbox: Sandbox,
  cgroup: string,
  blocked: string,
  allowed: string,
): Promise<{ stop(): Promise<LoopCounts> }> {
  const stopFile = join(sandbox.makeTempDir('loop'), 'stop');
  const loop = sandbox.spawnInCgroup(cgroup, [SYSTEM_PYTHON, '-c', LOOP_SCRIPT, blocked, allowed, stopFile]);
  let output = '';
  loop.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const done = new Promise<void>((resolve) => loop.once('close', () => resolve()));
  await eventually(
    () => output,
    (said) => said.includes('started'),
    'the loop started',
    { everyMs: 20 },
  );
  return {
    async stop() {
      writeFileSync(stopFile, '');
      await done;
      return JSON.parse(output.split('\n').filter(Boolean).pop()!) as LoopCounts;
    },
  };
}

/** Every connect to the blocked address was refused by the firewall, every one to the other reached the host. */
function assertNoGap(counts: LoopCounts): void {
  assert.deepEqual(Object.keys(counts.blocked), ['EPERM'], `blocked target results: ${JSON.stringify(counts.blocked)}`);
  assert.ok(counts.blocked.EPERM! > 10, `the loop ran throughout (${counts.blocked.EPERM} probes)`);
  assert.deepEqual(
    Object.keys(counts.allowed),
    ['refused'],
    `allowed target results: ${JSON.stringify(counts.allowed)}`,
  );
}

test('kill -9: a probe loop during the restart never gets through; the new helper adopts the pins', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client();
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.21' } });
    client.close();

    const loop = await startProbeLoop(sandbox, helper.paths.cgroup, '127.0.0.21', '127.0.0.22');
    await helper.stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 300)); // the loop runs with no helper at all
    await helper.launch();
    const again = await helper.client();
    const status = await again.call('status');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assertNoGap(await loop.stop());
    assert.equal(status.attach.adopted, true);
    assert.equal(status.ruleCount, 1);
  }));

/** Attach types on the cgroup that more than one program holds (a build's programs left beside another's). */
function doubledHooks(cgroup: string): string[] {
  const types = attachedPrograms(cgroup).map((p) => p.attach_type);
  return types.filter((type, i) => types.indexOf(type) !== i);
}

/**
 * The pins as a build with another layout of one map leaves them: its programs attached (these
 * are this build's, which is what a real older build's would do the same way), and `map` pinned with
 * another value size.
 */
function pinAsOtherBuild(pinDir: string, map: string): void {
  const pin = join(pinDir, 'maps', map);
  const shape = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', pin], { encoding: 'utf8' })) as {
    type: string;
    bytes_key: number;
    bytes_value: number;
    max_entries: number;
  };
  rmSync(pin);
  pinMap(pin, map, {
    type: shape.type,
    keyBytes: shape.bytes_key,
    valueBytes: shape.bytes_value + 8,
    entries: shape.max_entries,
  });
}

test('an upgrade that changed a map: the old build enforces until the new one holds the rules, then its programs go', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client();
    const rule = await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.25' } });
    client.close();
    assert.equal(await helper.stop('SIGTERM'), 0);
    pinAsOtherBuild(helper.paths.bpffs, 'pcl_rule_hits');

    const loop = await startProbeLoop(sandbox, helper.paths.cgroup, '127.0.0.25', '127.0.0.26');
    await helper.launch(); // this build could not reuse those pins: before, it did not start at all
    const again = await helper.client();
    const status = await again.call('status');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assertNoGap(await loop.stop());
    assert.match(
      helper.logs,
      /the pins were made by a build whose maps differ \(pcl_rule_hits: value size \d+, this build's \d+\)/,
    );
    assert.match(helper.logs, /retired the replaced build's programs \(\d+ link\(s\)\)/);
    assert.equal(status.attach.adopted, false);
    assert.equal(status.ruleCount, 1);
    assert.deepEqual(doubledHooks(helper.paths.cgroup), [], 'one program per hook: the old build is gone');
    assert.equal(existsSync(join(helper.paths.bpffs, 'retired')), false);

    // Only the new build decides now: with the rule removed, nothing blocks (the old programs would).
    const probe = (address: string) => probeOne(sandbox, helper.paths.cgroup, address, 9);
    assert.equal(await probe('127.0.0.25'), 'EPERM');
    await again.call('rules.remove', { ids: [rule.id] });
    assert.equal(await probe('127.0.0.25'), 'refused');

    // And the next restart adopts the new pins as usual.
    again.close();
    await helper.restart();
    const third = await helper.client();
    assert.equal((await third.call('status')).attach.adopted, true);
    assert.doesNotMatch(helper.logs.split('SIGTERM').pop()!, /maps differ/);
  }));

/**
 * Leaves the pins as a takeover killed right after setting the old build aside does: its links
 * moved to retired/ (still attached and enforcing), its maps unpinned.
 */
function setAsideAsInterrupted(pinDir: string): void {
  mkdirSync(join(pinDir, 'retired'));
  for (const link of readdirSync(join(pinDir, 'links')))
    renameSync(join(pinDir, 'links', link), join(pinDir, 'retired', `${link}-1765000000-1`));
  for (const map of readdirSync(join(pinDir, 'maps'))) rmSync(join(pinDir, 'maps', map));
}

/** A helper stopped with one block rule pinned and enforcing, and a probe of the cgroup. */
async function stoppedWithBlockRule(sandbox: Sandbox, remote: string) {
  const helper = await HelperProcess.start(sandbox);
  const client = await helper.client();
  await client.call('rules.add', { rule: { action: 'block', remote } });
  client.close();
  assert.equal(await helper.stop('SIGTERM'), 0);
  const probe = (address: string) => probeOne(sandbox, helper.paths.cgroup, address, 9);
  return { helper, probe };
}

test('a takeover a helper did not finish (killed with the old links set aside) is finished by the next start', () =>
  withSandbox(async (sandbox) => {
    const { helper, probe } = await stoppedWithBlockRule(sandbox, '127.0.0.27');
    setAsideAsInterrupted(helper.paths.bpffs);
    assert.equal(await probe('127.0.0.27'), 'EPERM', 'the set-aside links still enforce');

    await helper.launch();
    const again = await helper.client();
    assert.equal((await again.call('status')).ruleCount, 1);
    assert.match(helper.logs, /retired the replaced build's programs/);
    assert.deepEqual(doubledHooks(helper.paths.cgroup), []);
    assert.equal(existsSync(join(helper.paths.bpffs, 'retired')), false);
    assert.equal(await probe('127.0.0.27'), 'EPERM');
  }));

test('what cannot be retired from retired/ is named in the log and left; the helper serves, and the set-aside links go', () =>
  withSandbox(async (sandbox) => {
    const { helper, probe } = await stoppedWithBlockRule(sandbox, '127.0.0.29');
    setAsideAsInterrupted(helper.paths.bpffs);
    const retired = join(helper.paths.bpffs, 'retired');
    // Two entries that are no set-aside link: a pinned map (a pin someone put there) and a
    // directory (which cannot even be opened as a pin). Before, either ended the helper's start.
    pinStrayMap(join(retired, 'stray-map'), 'stray');
    mkdirSync(join(retired, 'stray-dir'));

    await helper.launch();
    const again = await helper.client();
    assert.equal((await again.call('status')).ruleCount, 1, 'the helper serves');
    assert.match(helper.logs, /retired the replaced build's programs \(\d+ link\(s\)\)/);
    assert.match(helper.logs, /could not retire retired\/stray-map: pins a map, not a link; it stays/);
    assert.match(helper.logs, /could not retire retired\/stray-dir: a directory, not a pinned link; it stays/);
    assert.deepEqual(doubledHooks(helper.paths.cgroup), [], 'the set-aside links are detached');
    assert.deepEqual(readdirSync(retired).sort(), ['stray-dir', 'stray-map'], 'only the strays are left');
    assert.equal(await probe('127.0.0.29'), 'EPERM', 'and it enforces');
    again.close();

    // The next start tries again (and still serves).
    await helper.restart();
    const third = await helper.client();
    assert.equal((await third.call('status')).ruleCount, 1);
    assert.match(helper.logs.split('SIGTERM').pop()!, /could not retire retired\/stray-map/);
    assert.equal(await probe('127.0.0.29'), 'EPERM');
  }));

test('uninstall also detaches links a takeover set aside, and leaves only what is no link there', () =>
  withSandbox(async (sandbox) => {
    const { helper, probe } = await stoppedWithBlockRule(sandbox, '127.0.0.28');
    setAsideAsInterrupted(helper.paths.bpffs);
    // Named like a set-aside link, but a map: what is there that is no link is not ours to remove.
    const stray = join(helper.paths.bpffs, 'retired', 'pcl_exec-1765000000-2');
    pinStrayMap(stray, 'stray');
    const said = await removePins(helper.paths.bpffs, pinsOf(join(REPO_ROOT, 'build/bpf/portcullis.skel.h')), Firewall);
    assert.match(said, /detached and unpinned \d+ pin\(s\); kept \S+\/retired, \S+ \(not empty: not ours\)$/);
    assert.deepEqual(attachedPrograms(helper.paths.cgroup), [], 'nothing attached to the cgroup');
    assert.equal(await probe('127.0.0.28'), 'refused');
    assert.deepEqual(readdirSync(helper.paths.bpffs), ['retired']);
    assert.ok(existsSync(stray));
    rmSync(stray);
    await removePins(helper.paths.bpffs, [], Firewall);
    assert.equal(existsSync(helper.paths.bpffs), false);
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
    const first = await eventually(
      () => client.call('connections.page', query),
      (page) => page.total >= ports.length,
      `flows for the ${ports.length} probed ports`,
      { everyMs: 200, describe: (page) => `${page.total} flows` },
    );
    assert.equal(first.total, ports.length, 'one flow per probed port');
    assert.equal(first.flows.length, 2);
    const cursor = first.cursor;
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
