// Import and export against a real helper on a test cgroup: a list imported through the CLI is
// enforced (real connects refused with EPERM), counted apart from the rules, toggled and removed as
// one; bad lines are reported and never stored; the JSON document round-trips exactly; sessions
// belong to their connection; the helper answers status while a big list streams in; lists outlive
// a restart.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import { streamImport, type ImportSummary, type RuleList, type Status } from '../../main/contract/index.js';
import { importCalls } from '../../main/cli/commands/import.js';

describe('lists: import, export and toggling against a real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let dir: string;
  const probe = (address: string, port = 9) => probeOne(sandbox, helper.paths.cgroup, address, port);
  const cli = async (...args: string[]) => {
    const result = await helper.cli(args);
    assert.equal(result.code, 0, `portcullis ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout.trim();
  };
  const lists = async () => JSON.parse(await cli('lists', '--json')) as RuleList[];
  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    dir = sandbox.makeTempDir('lists');
  });
  after(() => sandbox.dispose());

  test('a mixed list: entries enforced, bad lines reported with numbers and reasons, counted apart from rules', async () => {
    const path = file('mixed.hosts', [
      '# a hosts file with extras',
      '0.0.0.0 ads.example.com',
      '127.0.0.21',
      '127.3.0.0/16',
      'this is not a host',
      '127.0.0.21',
      '||tracker.example.net^',
      '127.0.0.1 localhost',
      '1.2.3.999',
    ]);
    const summary = JSON.parse(await cli('import', path, '--json')) as ImportSummary;
    assert.equal(summary.added, 4);
    assert.equal(summary.alreadyPresent, 1, 'the repeated line');
    assert.deepEqual(
      summary.skipped.map((s) => s.line),
      [5, 8, 9],
    );
    assert.match(summary.skipped[2]!.reason, /more than 255/);
    assert.equal(summary.lists[0]!.name, 'mixed.hosts');
    assert.equal(await probe('127.0.0.21'), 'EPERM');
    assert.equal(await probe('127.3.200.1'), 'EPERM');
    assert.equal(await probe('127.0.0.22'), 'refused');
    const status = JSON.parse(await cli('status', '--json')) as Status;
    assert.deepEqual(status.lists, { count: 1, entries: 4 });
    assert.equal(status.ruleCount, 0, 'list entries are not rules');
    assert.deepEqual(JSON.parse(await cli('rules', '--json')), []);

    const human = await helper.cli(['import', path]);
    assert.match(human.stdout, /0 added, 5 already present, 3 skipped/);
    assert.match(human.stdout, /line 5: this is not a host — expected one entry per line/);
    assert.match(
      helper.logs,
      /\(cli import\): imported 4 entries \(1 already present, 3 skipped\) into list \d+ "mixed.hosts"/,
    );
  });

  test('disable, enable and remove a list: every entry goes and comes at once', async () => {
    await cli('lists', 'disable', 'mixed.hosts');
    assert.equal(await probe('127.0.0.21'), 'refused');
    assert.equal((await lists())[0]!.enabled, false);
    await cli('lists', 'enable', 'mixed.hosts');
    assert.equal(await probe('127.3.0.5'), 'EPERM');
    const shown = await cli('lists', 'show', 'mixed.hosts');
    assert.match(shown, /4 entries/);
    assert.match(shown, /127\.3\.0\.0\/16/);
    assert.match(await cli('lists', 'remove', 'mixed.hosts'), /removed list "mixed.hosts" \(4 entries\)/);
    assert.equal(await probe('127.0.0.21'), 'refused');
    assert.deepEqual(await lists(), []);
  });

  test('stdin into a named list; a list of other terms under that name is refused, nothing stored', async () => {
    const stdinImport = await helper.cli(['import', '-', '--list', 'lab', '--note', 'from a pipe', '--json'], {
      input: '127.0.0.31\n127.0.0.32',
    });
    assert.equal(stdinImport.code, 0, stdinImport.stderr);
    const summary = JSON.parse(stdinImport.stdout) as ImportSummary;
    assert.deepEqual([summary.added, summary.lists[0]!.source, summary.lists[0]!.note], [2, 'stdin', 'from a pipe']);
    assert.equal(await probe('127.0.0.32'), 'EPERM');
    const refused = await helper.cli(['import', file('a.txt', ['127.0.0.33']), '--list', 'lab', '--action', 'allow']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /"lab" holds entries to block; these would allow/);
    assert.equal((await lists()).find((l) => l.name === 'lab')!.entryCount, 2);
    await cli('lists', 'remove', 'lab');
  });

  test('an allow list arrives disabled until someone enables it', async () => {
    await cli('block', '127.0.0.0/8', '--port', '9');
    assert.equal(await probe('127.0.0.41'), 'EPERM');
    const out = await cli('import', file('allow.txt', ['127.0.0.41']), '--action', 'allow');
    assert.match(out, /an allow list opens the firewall: review it/);
    assert.equal(await probe('127.0.0.41'), 'EPERM', 'not opened by the import');
    await cli('lists', 'enable', 'allow.txt');
    assert.equal(await probe('127.0.0.41'), 'refused', 'the more specific allow entry wins once enabled');
    await cli('lists', 'remove', 'allow.txt');
    const rules = JSON.parse(await cli('rules', '--json')) as Array<{ id: number }>;
    await cli('unblock', String(rules[0]!.id));
  });

  test('a bad JSON document is refused where it is wrong, and stores nothing', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(
      bad,
      JSON.stringify({
        format: 'portcullis-rules',
        version: 1,
        rules: [
          { action: 'block', remote: '127.0.0.51' },
          { action: 'block', remote: '127.0.0.52', port: '0' },
        ],
      }),
    );
    const result = await helper.cli(['import', bad, '--format', 'json']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /document\.rules\[1\]\.port: port 0 is outside 1-65535/);
    assert.deepEqual(JSON.parse(await cli('rules', '--json')), []);
    writeFileSync(bad, '{"format": "portcullis-rules", "version": 1, "rules": [');
    assert.match((await helper.cli(['import', bad, '--format', 'json'])).stderr, /document: is not valid JSON/);
  });

  test('the JSON document round-trips exactly: export, import into an empty helper, export again', async () => {
    const appExe = join(sandbox.makeTempDir('app'), 'listed-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    await cli('block', '127.0.0.61', '--port', '8000-8100', '--proto', 'tcp', '--dir', 'out', '--note', 'range');
    await cli('allow', 'example.org', '--app', appExe);
    await cli('block', '2001:db8::/32', '--for', '2h');
    const disabled = await cli('block', '*.ads.example');
    await helper.cli(['--json', 'rules']); // (a read between writes changes nothing)
    const client = await helper.client();
    await client.call('rules.update', { id: Number(disabled), patch: { enabled: false } });
    await cli('import', file('list.txt', ['127.0.0.62', '127.4.0.0/16', 'ads.example.com']), '--note', 'lab list');
    const first = await cli('export');

    const second = await HelperProcess.start(sandbox, { cgroup: sandbox.makeCgroup('second-helper') });
    const exported = join(dir, 'export.json');
    writeFileSync(exported, first);
    const summary = JSON.parse((await second.cli(['import', exported, '--json'])).stdout) as ImportSummary;
    assert.equal(summary.added, 4 + 3);
    const again = (await second.cli(['export'])).stdout.trim();
    assert.equal(again, first);
    const document = JSON.parse(first) as { rules: Array<Record<string, unknown>> };
    assert.deepEqual(document.rules[0], {
      action: 'block',
      app: null,
      remote: '127.0.0.61',
      port: '8000-8100',
      protocol: 'tcp',
      direction: 'out',
      expiresAt: null,
      note: 'range',
      enabled: true,
    });
    assert.equal(document.rules[1]!.app, appExe, 'apps are written as their executable path');
    assert.equal(document.rules[3]!.enabled, false);
    // Importing the same document again adds nothing.
    const twice = JSON.parse((await second.cli(['import', exported, '--json'])).stdout) as ImportSummary;
    assert.deepEqual([twice.added, twice.alreadyPresent], [0, 7]);
    assert.equal(await probe('127.4.1.1'), 'EPERM');

    const cidr = await cli('export', '--format', 'cidr');
    assert.deepEqual(
      cidr.split('\n').filter((line) => !line.startsWith('#')),
      ['2001:db8::/32', '127.0.0.62', '127.4.0.0/16'],
    );
    assert.match(cidr, /# not in this file: 1 block\(s\) limited to an app, port, protocol or direction/);
    const hosts = await cli('export', '--format', 'hosts');
    assert.deepEqual(
      hosts.split('\n').filter((line) => !line.startsWith('#')),
      ['0.0.0.0 ads.example.com'],
    );
    await second.stop();
  });

  test('a session belongs to its connection; the helper answers status while a big list streams in', async () => {
    const owner = await helper.client('owner');
    const other = await helper.client('other');
    const { session } = await owner.call('import.begin', { format: 'plain', source: 'big', list: 'big' });
    await assert.rejects(other.call('import.chunk', { session, text: '127.0.0.71\n' }), /there is no import/);
    await owner.call('import.abort', { session });

    const count = 200_000;
    const text = Array.from({ length: count }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join(
      '\n',
    );
    const replies: number[] = [];
    let importing = true;
    const poll = (async () => {
      while (importing) {
        const asked = performance.now();
        await other.call('status');
        replies.push(performance.now() - asked);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const summary = await streamImport(importCalls(owner), { format: 'plain', source: 'big', list: 'big' }, [text]);
    importing = false;
    await poll;
    assert.equal(summary.added, count);
    assert.ok(replies.length >= 2, `status was answered while the list streamed in (${replies.length} replies)`);
    const status = await other.call('status');
    assert.equal(status.lists.entries, count + 3);
  });

  test('lists outlive a restart, enforced from the store', async () => {
    const before = await lists();
    await helper.restart();
    assert.deepEqual(
      (await lists()).map((l) => [l.name, l.entryCount, l.enabled]),
      before.map((l) => [l.name, l.entryCount, l.enabled]),
    );
    assert.equal(await probe('127.0.0.62'), 'EPERM');
    const page = await (await helper.client()).call('lists.entries', { id: before[0]!.id, limit: 2 });
    assert.equal(page.total, 3);
    assert.deepEqual(
      page.entries.map((e) => e.remote),
      ['127.0.0.62', '127.4.0.0/16'],
    );
  });
});
