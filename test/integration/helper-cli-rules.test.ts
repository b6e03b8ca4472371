// The CLI against a real helper on a test cgroup: block and unblock with real TCP connects from a
// process in the cgroup (IPv4, CIDR, IPv6 to a netns test host, port-only, per-app), expiry,
// enable/disable, and --json output.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, type TestHost } from '../support/sandbox.js';
import { expectedFastPath } from '../support/kernel-btf.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import type { Rule, Status } from '../../main/contract/index.js';
import { eventually } from '../support/eventually.js';

// Waits for a file, then connects once and prints the result.
const WAIT_THEN_CONNECT = `
import errno, os, socket, sys, time
print('waiting', flush=True)
deadline = time.time() + 30
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.02)
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[2], 9)); print('connected')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

describe('portcullis block/unblock against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let host: TestHost;
  const probe = (address: string, port = 9, exe?: string) =>
    probeOne(sandbox, helper.paths.cgroup, address, port, exe ? { exe } : {});
  const cli = async (...args: string[]) => {
    const result = await helper.cli(args);
    assert.equal(result.code, 0, `portcullis ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout.trim();
  };

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    host = sandbox.makeTestHost(1);
  });
  after(() => sandbox.dispose());

  test('an IPv4 address: blocked with EPERM, others untouched, unblocked by target', async () => {
    assert.equal(await probe('127.0.0.9'), 'refused');
    const id = await cli('block', '127.0.0.9');
    assert.match(id, /^[0-9]+$/);
    assert.equal(await probe('127.0.0.9'), 'EPERM');
    assert.equal(await probe('127.0.0.10'), 'refused');
    assert.match(
      helper.logs,
      new RegExp(`uid 0 pid \\d+ \\(cli block\\): added rule ${id}: block 127\\.0\\.0\\.9`),
      'changes are logged with who made them',
    );
    assert.equal(await cli('unblock', '127.0.0.9'), `removed rule ${id}`);
    assert.equal(await probe('127.0.0.9'), 'refused');
  });

  test('a CIDR: every address inside is blocked; unblock by rule id', async () => {
    const id = await cli('block', '127.1.0.0/16', '--note', 'lab range');
    assert.equal(await probe('127.1.2.3'), 'EPERM');
    assert.equal(await probe('127.1.255.254'), 'EPERM');
    assert.equal(await probe('127.2.0.1'), 'refused');
    await cli('unblock', id);
    assert.equal(await probe('127.1.2.3'), 'refused');
  });

  test('IPv6 to a test host in a netns', async () => {
    assert.equal(await probe(host.peer6), 'refused');
    const id = await cli('block', host.peer6);
    assert.equal(await probe(host.peer6), 'EPERM');
    assert.equal(await probe(host.peer4), 'refused');
    await cli('unblock', id);
    assert.equal(await probe(host.peer6), 'refused');
  });

  test('a port-only rule blocks that port on every address, both families', async () => {
    const id = await cli('block', 'any', '--port', '4444', '--proto', 'tcp');
    assert.equal(await probe('127.0.0.9', 4444), 'EPERM');
    assert.equal(await probe('::1', 4444), 'EPERM');
    assert.equal(await probe(host.peer4, 4444), 'EPERM');
    assert.equal(await probe('127.0.0.9', 4445), 'refused');
    await cli('unblock', id);
    assert.equal(await probe('127.0.0.9', 4444), 'refused');
  });

  test('a per-app rule blocks only that executable, including a copy already running', async () => {
    const dir = sandbox.makeTempDir('app');
    const appExe = join(dir, 'probe-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    // Started before the rule exists: bound through /proc when the rule appears.
    const goFile = join(dir, 'go');
    const early = sandbox.spawnInCgroup(helper.paths.cgroup, [appExe, '-c', WAIT_THEN_CONNECT, goFile, '127.0.0.11']);
    let earlyOut = '';
    early.stdout!.on('data', (chunk: Buffer) => {
      earlyOut += chunk.toString();
    });
    const earlyDone = new Promise<void>((resolve) => early.once('close', () => resolve()));
    await eventually(
      () => earlyOut,
      (said) => said.includes('waiting'),
      'the early app waiting',
      { everyMs: 20 },
    );

    const id = await cli('block', '127.0.0.11', '--app', appExe, '--dir', 'out');
    assert.equal(await probe('127.0.0.11', 9, appExe), 'EPERM');
    assert.equal(await probe('127.0.0.11', 9), 'refused', 'another program is not affected');
    writeFileSync(goFile, '');
    await earlyDone;
    assert.match(earlyOut, /EPERM/, 'the copy that was already running is blocked too');

    const rules = JSON.parse(await cli('rules', '--json')) as Rule[];
    const rule = rules.find((r) => r.id === Number(id))!;
    assert.ok(rule.appId !== null && rule.appId > 0);
    assert.equal(rule.direction, 'out');
    await cli('unblock', id);
    assert.equal(await probe('127.0.0.11', 9, appExe), 'refused');
  });

  test('a rule with --for expires in the kernel and the store', async () => {
    const id = Number(await cli('block', '127.0.0.12', '--for', '2s'));
    assert.equal(await probe('127.0.0.12'), 'EPERM');
    await eventually(
      async () => JSON.parse(await cli('rules', '--json')) as Rule[],
      (rules) => !rules.some((r) => r.id === id),
      'the expired rule gone from the store',
      { timeoutMs: 15_000, everyMs: 250 },
    );
    assert.equal(await probe('127.0.0.12'), 'refused');
  });

  test('disable turns enforcement off (rules stay), enable turns it back on; status says so', async () => {
    const id = await cli('block', '127.0.0.13');
    await cli('disable');
    let status = JSON.parse(await cli('status', '--json')) as Status;
    assert.equal(status.enforcing, false);
    assert.equal(await probe('127.0.0.13'), 'refused');
    assert.match(await cli('status'), /Enforcement\s+off/);
    await cli('enable');
    status = JSON.parse(await cli('status', '--json')) as Status;
    assert.equal(status.enforcing, true);
    assert.equal(await probe('127.0.0.13'), 'EPERM');
    await cli('unblock', id);
  });

  test('--json prints JSON only; a domain rule is stored (enforced later through DNS answers)', async () => {
    const rule = JSON.parse(await cli('block', '*.Example.org', '--json')) as Rule;
    assert.deepEqual(rule.remote, { kind: 'domain', name: 'example.org', subdomains: true });
    const status = JSON.parse(await cli('status', '--json')) as Status;
    assert.equal(status.ruleCount, (JSON.parse(await cli('rules', '--json')) as Rule[]).length);
    assert.equal(status.attach.cgroup, helper.paths.cgroup);
    assert.deepEqual(status.kernel.missing, []);
    await cli('unblock', String(rule.id));
    const human = await cli('rules');
    assert.doesNotMatch(human, /example\.org/);
  });

  test('doctor against the helper: every check the helper can answer passes; disable --for reports when it resumes', async () => {
    const doctor = await helper.cli(['doctor', '--json']);
    const checks = JSON.parse(doctor.stdout) as Array<{ id: string; ok: boolean; detail: string }>;
    const byId = new Map(checks.map((c) => [c.id, c]));
    for (const id of ['kernel', 'cgroup2', 'btf', 'helper', 'hooks'])
      assert.equal(byId.get(id)?.ok, true, `${id}: ${byId.get(id)?.detail}`);
    // The features run in which form on this kernel, from the helper's probes.
    const human = (await helper.cli(['doctor'])).stdout;
    const fastPath =
      expectedFastPath() === 'entry' ? '✓ Cached fast path: per-socket entries' : '~ Cached fast path: socket storage';
    assert.match(human, new RegExp(`\n {4}${fastPath} — `));
    assert.match(human, /\n {4}✓ Exact totals at close: socket-release hook — /);
    const paused = JSON.parse(await cli('disable', '--for', '10m', '--json')) as Status;
    assert.equal(paused.enforcing, false);
    assert.ok(paused.pausedUntil !== null && paused.pausedUntil > Date.now() + 9 * 60_000);
    assert.match(await cli('status'), /Enforcement\s+paused, resumes in (9|10)m/);
    await cli('enable');
  });

  test('unblock of something not blocked is a failure (exit 1), not bad input', async () => {
    const result = await helper.cli(['unblock', '127.0.0.99']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no block rule for 127\.0\.0\.99/);
    const byId = await helper.cli(['unblock', '999999']);
    assert.equal(byId.code, 1);
    assert.match(byId.stderr, /there is no rule 999999/);
  });
});
