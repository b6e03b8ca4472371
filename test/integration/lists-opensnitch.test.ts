// Migrating from OpenSnitch against a real helper: a rule directory written from OpenSnitch's
// documented format is imported through the CLI; what maps becomes rules the kernel enforces on
// real connects in the test cgroup (per app, address, port and protocol), what does not is reported
// with its file and reason, and importing the directory again adds nothing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import type { ImportSummary, Rule } from '../../main/contract/index.js';
import { openSnitchRuleText as ruleText, simple } from '../support/opensnitch-rules.js';

describe('OpenSnitch migration against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let rulesDir: string;
  let appExe: string;
  const probe = (address: string, port: number, exe?: string) =>
    probeOne(sandbox, helper.paths.cgroup, address, port, exe ? { exe } : {});

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    rulesDir = join(sandbox.makeTempDir('opensnitch'), 'rules');
    mkdirSync(rulesDir);
    appExe = join(sandbox.makeTempDir('app'), 'migrated-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const write = (file: string, text: string) => writeFileSync(join(rulesDir, file), text);
    write(
      '000-deny-telnet-lab.json',
      ruleText('000-deny-telnet-lab', 'deny', {
        type: 'list',
        operand: 'list',
        data: '',
        list: [simple('dest.ip', '127.0.0.81'), simple('dest.port', '9'), simple('protocol', 'tcp')],
      }),
    );
    write(
      '001-reject-app-port.json',
      ruleText('001-reject-app-port', 'reject', {
        type: 'list',
        operand: 'list',
        data: '',
        list: [simple('process.path', appExe), { type: 'regexp', operand: 'dest.port', data: '^(10|11)$' }],
      }),
    );
    write('002-deny-host.json', ruleText('002-deny-host', 'deny', simple('dest.host', 'ads.example.com')));
    write(
      '003-deny-lab-net.json',
      ruleText('003-deny-lab-net', 'deny', { type: 'network', operand: 'dest.network', data: '127.9.0.1/16' }),
    );
    write(
      '010-regexp-host.json',
      ruleText('010-regexp-host', 'deny', { type: 'regexp', operand: 'dest.host', data: '.*\\.tracker\\.example' }),
    );
    write(
      '011-user.json',
      ruleText('011-user', 'allow', {
        type: 'list',
        operand: 'list',
        data: '',
        list: [simple('user.id', '1000'), simple('dest.port', '443')],
      }),
    );
    write(
      '012-blocklist.json',
      ruleText('012-blocklist', 'deny', { type: 'lists', operand: 'lists.domains', data: '/etc/opensnitchd/ads/' }),
    );
    write(
      '013-temporary.json',
      ruleText('013-temporary', 'deny', simple('dest.ip', '127.0.0.83'), { duration: '30m' }),
    );
    write('014-broken.json', '{\n  "name": "014-broken",\n  "action": "deny",\n  "operator": {,\n}\n');
    write('README.txt', 'not a rule: OpenSnitch loads only *.json files\n');
  });
  after(() => sandbox.dispose());

  test('mapped rules are enforced; the rest are reported with file and reason', async () => {
    assert.equal(await probe('127.0.0.81', 9), 'refused', 'nothing blocks before the import');

    const result = await helper.cli(['import', '--format', 'opensnitch', rulesDir, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as ImportSummary;
    assert.equal(summary.added, 1 + 2 + 1 + 1);
    assert.equal(summary.alreadyPresent, 0);
    assert.equal(summary.skippedCount, 5);
    const skipped = new Map(summary.skipped.map((skip) => [skip.file, skip]));
    assert.deepEqual(
      [...skipped.keys()],
      ['010-regexp-host.json', '011-user.json', '012-blocklist.json', '013-temporary.json', '014-broken.json'],
    );
    assert.match(skipped.get('010-regexp-host.json')!.reason, /a regular expression on dest\.host/);
    assert.match(skipped.get('011-user.json')!.reason, /user\.id matches a user/);
    assert.match(skipped.get('012-blocklist.json')!.reason, /list files in \/etc\/opensnitchd\/ads\//);
    assert.match(skipped.get('013-temporary.json')!.reason, /temporary rule \(duration "30m"\)/);
    assert.equal(skipped.get('014-broken.json')!.line, 4);
    assert.match(skipped.get('014-broken.json')!.reason, /not valid JSON at line 4, column 16/);

    // The list rule: address AND port AND protocol.
    assert.equal(await probe('127.0.0.81', 9), 'EPERM');
    assert.equal(await probe('127.0.0.81', 7), 'refused', 'another port of that address is open');
    // The app rule: only the migrated app, on both ports of its alternation.
    assert.equal(await probe('127.0.0.82', 10, appExe), 'EPERM');
    assert.equal(await probe('127.0.0.82', 11, appExe), 'EPERM');
    assert.equal(await probe('127.0.0.82', 10), 'refused', 'another program is not affected');
    // The network, taken as OpenSnitch takes it (host bits dropped).
    assert.equal(await probe('127.9.200.1', 9), 'EPERM');

    const rules = JSON.parse((await helper.cli(['rules', '--json'])).stdout) as Rule[];
    const telnet = rules.find((rule) => rule.note === 'OpenSnitch: 000-deny-telnet-lab')!;
    assert.deepEqual(
      [telnet.action, telnet.protocol, telnet.direction, telnet.ports, telnet.appId],
      ['block', 'tcp', 'out', { from: 9, to: 9 }, null],
    );
    assert.equal(rules.filter((rule) => rule.note === 'OpenSnitch: 001-reject-app-port').length, 2);

    const human = await helper.cli(['import', '--format', 'opensnitch', rulesDir]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /0 added, 5 already present, 5 skipped/);
    assert.match(human.stdout, /014-broken\.json:4: 014-broken\.json — not valid JSON/);
    assert.match(human.stdout, /011-user\.json: 011-user — user\.id matches a user/);
  });

  test('one rule file imports alone; a directory without rule files is refused', async () => {
    const single = join(sandbox.makeTempDir('single'), 'deny-one.json');
    writeFileSync(single, ruleText('deny-one', 'deny', { type: 'simple', operand: 'dest.ip', data: '127.0.0.84' }));
    const result = await helper.cli(['import', '--format', 'opensnitch', single, '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as ImportSummary).added, 1);
    assert.equal(await probe('127.0.0.84', 9), 'EPERM');

    const empty = sandbox.makeTempDir('empty');
    const refused = await helper.cli(['import', '--format', 'opensnitch', empty]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /holds no \*\.json rule files/);
  });
});

describe('OpenSnitch migration of a hostile rule directory', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  after(() => sandbox.dispose());

  test('an oversized file and hostile ones are reported by file (and line), the good ones imported, nothing stored lost', async () => {
    helper = await HelperProcess.start(sandbox);
    const stored = await helper.cli(['block', '127.0.0.90', '--note', 'stored before the import']);
    assert.equal(stored.code, 0, stored.stderr);
    const rulesBefore = JSON.parse((await helper.cli(['rules', '--json'])).stdout) as Rule[];

    const dir = join(sandbox.makeTempDir('hostile'), 'rules');
    mkdirSync(dir);
    const write = (file: string, text: string | Buffer) => writeFileSync(join(dir, file), text);
    write('000-good-ip.json', ruleText('000-good-ip', 'deny', simple('dest.ip', '127.0.0.91')));
    write('001-good-host.json', ruleText('001-good-host', 'deny', simple('dest.host', 'good.example')));
    // A real rule, padded past what a rule file may hold (OpenSnitch's are a few hundred bytes).
    write(
      '100-oversized.json',
      ruleText('100-oversized', 'deny', simple('dest.ip', '127.0.0.92'), { description: 'x'.repeat(2 * 1024 * 1024) }),
    );
    write(
      '101-malformed.json',
      '{\n  "name": "101-malformed",\n  "action": "deny",\n  "operator": {"type": "simple", "operand": "dest.ip", "data": "127.0.0.93"\n',
    );
    // 100,000 lists deep in 2.6 MB would be oversized; 20,000 deep stays under the limit.
    const depth = 20_000;
    write(
      '102-deep-operator.json',
      `{"name": "102-deep-operator", "action": "deny", "operator": ${'{"type": "list", "operand": "list", "list": ['.repeat(depth)}{"type": "simple", "operand": "dest.ip", "data": "127.0.0.94"}${']}'.repeat(depth)}}`,
    );
    write('103-deep-array.json', `${'['.repeat(400_000)}${']'.repeat(400_000)}`);
    write(
      '104-huge-strings.json',
      ruleText('n'.repeat(300_000), 'deny', simple('dest.host', `${'a'.repeat(300_000)}.example`)),
    );
    write(
      '105-wrong-types.json',
      JSON.stringify({ name: 105, action: ['deny'], enabled: 'yes', operator: { type: 7, operand: null } }),
    );
    write(
      '106-wrong-port.json',
      JSON.stringify({
        name: '106-wrong-port',
        action: 'deny',
        operator: { type: 'simple', operand: 'dest.port', data: { port: 80 } },
      }),
    );
    write('107-null.json', 'null');
    write('108-not-utf8.json', Buffer.from([0x7b, 0xff, 0xfe, 0x00, 0x22, 0x7d]));

    const result = await helper.cli(['import', '--format', 'opensnitch', dir, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout) as ImportSummary;
    const reasons = new Map(summary.skipped.map((skip) => [skip.file, skip]));
    assert.deepEqual(
      [...reasons.keys()],
      [
        '100-oversized.json',
        '101-malformed.json',
        '102-deep-operator.json',
        '103-deep-array.json',
        '104-huge-strings.json',
        '105-wrong-types.json',
        '106-wrong-port.json',
        '107-null.json',
        '108-not-utf8.json',
      ],
      result.stdout.slice(0, 4000),
    );
    assert.equal(summary.added, 2);
    assert.match(reasons.get('100-oversized.json')!.reason, /^\d+ bytes, more than the 1048576 a rule file may hold/);
    assert.equal(reasons.get('101-malformed.json')!.line, 5);
    assert.match(reasons.get('101-malformed.json')!.reason, /not valid JSON at line 5/);
    assert.match(reasons.get('102-deep-operator.json')!.reason, /a list inside a list/);
    assert.match(reasons.get('103-deep-array.json')!.reason, /not an OpenSnitch rule/);
    assert.match(reasons.get('104-huge-strings.json')!.reason, /longer than 253 characters, the limit for a domain/);
    assert.match(reasons.get('105-wrong-types.json')!.reason, /action \["deny"\] is none of allow, deny, reject/);
    assert.match(reasons.get('106-wrong-port.json')!.reason, /has no "data"/);
    assert.match(reasons.get('107-null.json')!.reason, /not an OpenSnitch rule/);
    assert.match(reasons.get('108-not-utf8.json')!.reason, /not valid JSON at line 1/);
    for (const skip of summary.skipped)
      assert.ok(
        skip.text.length + skip.reason.length < 2000,
        `${skip.file}: a report of ${skip.reason.length} characters`,
      );

    const rulesAfter = JSON.parse((await helper.cli(['rules', '--json'])).stdout) as Rule[];
    const ids = new Set(rulesAfter.map((rule) => rule.id));
    for (const rule of rulesBefore) assert.ok(ids.has(rule.id), `rule ${rule.id} (${rule.note}) is still stored`);
    assert.deepEqual(
      rulesAfter
        .filter((rule) => rule.note?.startsWith('OpenSnitch:'))
        .map((rule) => rule.note)
        .sort(),
      ['OpenSnitch: 000-good-ip', 'OpenSnitch: 001-good-host'],
    );
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.91', 9), 'EPERM');
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.90', 9), 'EPERM', 'the stored rule still holds');
  });
});
