// Policy as files against a real helper configured (by its own flag, as root) for a test policy
// directory: files are applied at start and when they change, enforced on real connects in the test
// cgroup, read-only through the socket; a malformed file keeps its last good rules and is reported
// with the line or field; files others could have written are refused; a removed file takes its
// rules with it.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne } from '../support/connect-probe.js';
import type { PolicyFileStatus, Rule, RuleList, Status } from '../../main/contract/index.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { eventually } from '../support/eventually.js';

/** A policy document as `portcullis export` writes it. */
function policy(rules: Array<Record<string, unknown>>, lists: Array<Record<string, unknown>> = []): string {
  return `${JSON.stringify({ format: 'portcullis-rules', version: 1, rules, lists }, null, 2)}\n`;
}

const block = (remote: string, extra: Record<string, unknown> = {}) => ({
  action: 'block',
  app: null,
  remote,
  port: '9',
  protocol: 'tcp',
  direction: 'out',
  expiresAt: null,
  note: 'corporate policy',
  enabled: true,
  ...extra,
});

describe('policy files against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let client: HelperClient;
  let dir: string;
  const probe = (address: string) => probeOne(sandbox, helper.paths.cgroup, address, 9);
  /** Writes a file as configuration management would: a temp file renamed into place, root's, 0644. */
  const put = (name: string, text: string, mode = 0o644) => {
    const temp = join(dir, `.${name}.tmp`);
    writeFileSync(temp, text, { mode });
    chmodSync(temp, mode);
    renameSync(temp, join(dir, name));
  };
  const status = async () => (await client.call('status')) as Status;
  const fileStatus = async (name: string): Promise<PolicyFileStatus | undefined> =>
    (await status()).policy.files.find((file) => file.name === name);
  const managedRules = async () =>
    (JSON.parse((await helper.cli(['rules', '--json'])).stdout) as Rule[]).filter((rule) => rule.managedBy);

  before(async () => {
    const base = sandbox.makeTempDir('policy');
    chmodSync(base, 0o755);
    dir = join(base, 'policy.d');
    mkdirSync(dir, { mode: 0o755 });
    put(
      '10-base.json',
      policy(
        [block('127.0.0.91')],
        [{ name: 'corp-blocks', action: 'block', entries: ['127.10.0.0/16', '127.0.0.93'] }],
      ),
    );
    helper = await HelperProcess.start(sandbox, { policyDir: dir });
    client = await helper.client();
  });
  after(() => sandbox.dispose());

  test('applied at start, enforced, and read-only through the socket', async () => {
    assert.equal(await probe('127.0.0.91'), 'EPERM');
    assert.equal(await probe('127.10.4.4'), 'EPERM');
    assert.equal(await probe('127.0.0.94'), 'refused');
    const [rule] = await managedRules();
    assert.equal(rule!.managedBy, join(dir, '10-base.json'));
    const file = await fileStatus('10-base.json');
    assert.deepEqual([file?.state, file?.rules, file?.lists, file?.error], ['applied', 1, 1, null]);
    assert.match(helper.logs, /policy: applied .*10-base\.json: 1 rule\(s\), 1 list\(s\)/);

    const unblock = await helper.cli(['unblock', String(rule!.id)]);
    assert.equal(unblock.code, 2);
    assert.match(unblock.stderr, /rule \d+ is managed by the policy file .*10-base\.json; change or remove it there/);
    await assert.rejects(
      client.call('rules.update', { id: rule!.id, patch: { enabled: false } }),
      /is managed by the policy file/,
    );
    const removeList = await helper.cli(['lists', 'remove', 'corp-blocks']);
    assert.notEqual(removeList.code, 0);
    assert.match(removeList.stderr, /list "corp-blocks" is managed by the policy file .*10-base\.json/);
    const disableList = await helper.cli(['lists', 'disable', 'corp-blocks']);
    assert.notEqual(disableList.code, 0);
    assert.equal(await probe('127.0.0.91'), 'EPERM', 'still enforced after the refusals');
    const exported = JSON.parse((await helper.cli(['export'])).stdout) as { rules: unknown[]; lists: unknown[] };
    assert.deepEqual([exported.rules.length, exported.lists.length], [0, 0], 'managed rules stay with their file');
  });

  test('a changed file is applied as a diff: what stays keeps its id', async () => {
    const before = (await managedRules())[0]!;
    const listBefore = ((await client.call('lists.list')) as RuleList[]).find((l) => l.name === 'corp-blocks')!;
    put(
      '10-base.json',
      policy(
        [block('127.0.0.91'), block('127.0.0.92')],
        [{ name: 'corp-blocks', action: 'block', entries: ['127.0.0.93'] }],
      ),
    );
    await eventually(managedRules, (rules) => rules.length === 2, 'the second rule applied');
    assert.equal(await probe('127.0.0.92'), 'EPERM');
    assert.equal(await probe('127.10.4.4'), 'refused', 'the entry the file dropped is gone');
    assert.equal(await probe('127.0.0.93'), 'EPERM');
    const after = await managedRules();
    assert.ok(
      after.some((rule) => rule.id === before.id),
      'the unchanged rule kept its id',
    );
    const listAfter = ((await client.call('lists.list')) as RuleList[]).find((l) => l.name === 'corp-blocks')!;
    assert.deepEqual([listAfter.id, listAfter.entryCount], [listBefore.id, 1]);
  });

  test('a malformed file is reported with the field or line and keeps its last good rules', async () => {
    put('20-ports.json', policy([block('127.0.0.95', { port: '0' })]));
    await eventually(
      () => fileStatus('20-ports.json'),
      (file) => file?.state === 'malformed',
      'the bad file reported',
    );
    const bad = (await fileStatus('20-ports.json'))!;
    assert.match(bad.error!, /20-ports\.json\.rules\[0\]\.port: port 0 is outside 1-65535/);
    assert.equal(bad.appliedAt, null);

    put(
      '10-base.json',
      '{\n  "format": "portcullis-rules",\n  "version": 1,\n  "rules": [\n    {"action": "block",,}\n  ]\n}\n',
    );
    await eventually(
      () => fileStatus('10-base.json'),
      (file) => file?.state === 'malformed',
      'the broken file reported',
    );
    assert.match((await fileStatus('10-base.json'))!.error!, /is not valid JSON at line 5, column 24/);
    assert.equal(await probe('127.0.0.92'), 'EPERM', 'the last good rules of the file stay');
    assert.equal((await managedRules()).length, 2);

    const doctor = await helper.cli(['doctor', '--json']);
    const check = (JSON.parse(doctor.stdout) as Array<{ id: string; ok: boolean; detail: string }>).find(
      (c) => c.id === 'policy',
    )!;
    assert.equal(check.ok, false);
    assert.match(check.detail, /10-base\.json: .*line 5/);
    assert.match((await helper.cli(['status'])).stdout, /Policy .*2 file\(s\) .*2 with errors/);
    assert.match(helper.logs, /10-base\.json: .*not valid JSON.*; its last good rules stay/);
  });

  test('files others could have written are refused with the reason', async () => {
    rmSync(join(dir, '20-ports.json'));
    put('30-writable.json', policy([block('127.0.0.96')]), 0o666);
    put('40-nobody.json', policy([block('127.0.0.97')]));
    chownSync(join(dir, '40-nobody.json'), 65534, 65534);
    await eventually(
      async () => (await status()).policy.files,
      (files) => files.filter((file) => file.state === 'refused').length === 2,
      'both refused',
    );
    assert.match((await fileStatus('30-writable.json'))!.error!, /writable by group or others \(mode 666\)/);
    assert.match((await fileStatus('40-nobody.json'))!.error!, /owned by uid 65534, not root/);
    assert.equal(await probe('127.0.0.96'), 'refused');
    assert.equal(await probe('127.0.0.97'), 'refused');
    assert.equal((await fileStatus('20-ports.json')) ?? null, null, 'a removed file leaves the status');
  });

  test('a removed file takes its rules and lists; a file written while the helper is away applies at start', async () => {
    rmSync(join(dir, '30-writable.json'));
    rmSync(join(dir, '40-nobody.json'));
    put('10-base.json', policy([block('127.0.0.91')]));
    await eventually(
      () => fileStatus('10-base.json'),
      (file) => file?.state === 'applied',
      'the fixed file applied',
    );
    assert.deepEqual(
      ((await client.call('lists.list')) as RuleList[]).map((l) => l.name),
      [],
      'the list the file no longer names is gone',
    );
    rmSync(join(dir, '10-base.json'));
    await eventually(managedRules, (rules) => rules.length === 0, 'its rules gone');
    assert.equal(await probe('127.0.0.91'), 'refused');
    assert.deepEqual((await status()).policy.files, []);

    await helper.stop();
    put('50-later.json', policy([block('127.0.0.98')]));
    await helper.launch();
    client = await helper.client();
    assert.equal(await probe('127.0.0.98'), 'EPERM', 'in force as soon as the helper serves');
  });
});
