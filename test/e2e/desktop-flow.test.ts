// The desktop app end to end, through the browser shell in Debian's Chromium, against a real helper
// on a test cgroup: finish the wizard; see a connection a test process made; block it from the
// list; the process's next connection fails; the rule is in the editor; remove it; it connects
// again; import a list with a progress bar; import OpenSnitch's rule files (a broken and an oversized
// one among them), the rules landing in the helper, a second import adding nothing; import
// OpenSnitch's rules folder whole, its other files ignored. Screenshots go to test-artifacts/e2e/.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne } from '../support/connect-probe.js';
import { openShell, type ShellSession } from './browser-support.js';
import { formatRemote } from '../../main/contract/index.js';
import { all, openSnitchRuleText, simple } from '../support/opensnitch-rules.js';

const TARGET = '127.0.0.77';

describe('desktop app through the browser shell, real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let session: ShellSession;
  let server: Server;
  let port = 0;
  const probe = () => probeOne(sandbox, helper.paths.cgroup, TARGET, port);

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    server = createServer((socket) => {
      socket.on('error', () => undefined); // the probe closes at once; a reset is normal here
      socket.end('hello\n');
    });
    await new Promise<void>((resolve) => server.listen(0, TARGET, resolve));
    port = (server.address() as { port: number }).port;
    sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    session = await openShell(sandbox, helper.paths.socket);
  });
  after(() => sandbox.dispose());

  test('first-run wizard: checks, helper running, monitor mode, remembered', async () => {
    const { page } = session;
    await page.getByRole('dialog', { name: 'Set up Portcullis' }).waitFor();
    await page.locator('[data-check="kernel"]').waitFor();
    await session.screenshot('01-wizard-checks');
    const checks = await page.locator('.checks li').count();
    assert.ok(checks >= 5, `expected the kernel, cgroup2, bpffs, BTF and polkit checks, saw ${checks}`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('The helper is running').waitFor();
    await session.screenshot('02-wizard-helper');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByLabel(/Monitor/).check();
    await session.screenshot('03-wizard-mode');
    await page.getByRole('button', { name: 'Finish' }).click();
    await page.getByRole('dialog', { name: 'Set up Portcullis' }).waitFor({ state: 'detached' });
    // Remembered: a reload does not bring the wizard back.
    await page.reload();
    await page.getByTestId('helper-state').filter({ hasText: 'Helper connected' }).waitFor();
    assert.equal(await page.getByRole('dialog', { name: 'Set up Portcullis' }).count(), 0);
    assert.match((await page.getByTestId('enforcement-state').textContent()) ?? '', /monitor mode/);
  });

  test('a connection made in the test cgroup shows up, is blocked from the list, and unblocked from the editor', async () => {
    const { page } = session;
    // The first connection comes from a process that lives a moment, as an app does: the helper
    // names a process the kernel has no app id for from /proc, which a process that exited within
    // milliseconds no longer has (then only its comm is known, and a per-app block cannot bind it).
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, TARGET, port, { lingerMs: 1500 }), 'connected');
    await page.getByLabel('Search connections').fill(String(port));
    const row = page.locator(`.flow-row[data-remote="${TARGET}"][data-port="${port}"]`);
    await row.waitFor({ timeout: 15_000 });
    await session.screenshot('04-connection-listed');

    await row.hover();
    await row.getByRole('button', { name: 'Block for app' }).click();
    await page.getByText(`Rule added: block ${TARGET}`).waitFor();
    assert.equal(await probe(), 'EPERM');

    await page.getByRole('tab', { name: /Rules/ }).click();
    const ruleRow = page.locator(`[data-rule-remote="${TARGET}"]`);
    await ruleRow.waitFor();
    assert.match((await ruleRow.textContent()) ?? '', /block/);
    await session.screenshot('05-rule-in-editor');
    await ruleRow.getByRole('button', { name: `Remove rule ${TARGET}` }).click();
    await ruleRow.waitFor({ state: 'detached' });
    assert.equal(await probe(), 'connected');

    // The blocked attempt is in the list too, marked as such.
    await page.getByRole('tab', { name: 'Connections' }).click();
    await page.getByRole('button', { name: 'Blocked', pressed: false }).click();
    await page.locator(`.flow-row[data-remote="${TARGET}"][data-port="${port}"]`).waitFor({ timeout: 15_000 });
    await session.screenshot('06-blocked-filter');
    await page.getByRole('button', { name: 'All', exact: true }).click();
    await page.getByLabel('Search connections').fill('');
  });

  test('app details with its traffic chart; the rule form validates inline as the helper does', async () => {
    const { page } = session;
    assert.equal(await probe(), 'connected');
    await page.getByRole('tab', { name: 'Connections' }).click();
    const appRow = page.locator('.app-row').filter({ hasText: 'python' }).first();
    await appRow.click();
    const details = page.getByRole('complementary', { name: /Details of python/ });
    await details.waitFor();
    // The chart shows bytes per poll once a poll has seen this app's counters grow.
    await details.getByRole('img', { name: /Traffic in the last 5 minutes/ }).waitFor();
    await session.screenshot('09-app-details');
    await page.getByRole('tab', { name: /Rules/ }).click();
    await page.getByRole('button', { name: 'Add rule' }).click();
    const form = page.getByRole('dialog', { name: 'New rule' });
    await form.getByPlaceholder(/203\.0\.113\.7/).fill('192.0.2.0/24');
    await form.getByPlaceholder(/8000-8100/).fill('9000-80');
    assert.match((await form.getByRole('alert').textContent()) ?? '', /runs backwards/);
    assert.equal(await form.getByRole('button', { name: 'Add rule' }).isDisabled(), true);
    await session.screenshot('10-rule-form-invalid');
    await form.getByRole('button', { name: 'Cancel' }).click();
  });

  test('import a list: progress bar, skipped lines explained, the entries a list apart from the rules', async () => {
    const { page } = session;
    // Long enough to go to the helper in more chunks than are in flight at once (1.3 MB: ten of
    // 128 KiB, four in flight), so the bar moves before the last is sent.
    const entries = Array.from({ length: 100000 }, (_, i) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
    const file = join(sandbox.makeTempDir('list'), 'blocklist.hosts');
    writeFileSync(
      file,
      [
        '# test list',
        '0.0.0.0 localhost',
        '0.0.0.0 ads.tracker.example',
        'this is not a host',
        ...entries,
        entries[0],
      ].join('\n'),
    );
    await page.getByRole('tab', { name: /Rules/ }).click();
    const rulesBefore = Number(((await page.getByTestId('rule-count').textContent()) ?? '').replace(/[^0-9]/g, ''));
    await page.getByRole('button', { name: 'Import list…' }).click();
    await page.getByLabel('List file').setInputFiles(file);
    await page.waitForFunction(() =>
      (document.querySelector('textarea') as HTMLTextAreaElement | null)?.value.includes('ads.tracker.example'),
    );
    // Record every value the progress bar shows.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { progressSeen: string[] }).progressSeen = seen;
      new MutationObserver(() => {
        const value = document.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow');
        if (value && seen.at(-1) !== value) seen.push(value);
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    const summary = page.getByTestId('import-summary');
    await summary.filter({ hasText: 'Imported from blocklist.hosts: 100,001 added' }).waitFor({ timeout: 60_000 });
    await session.screenshot('07-import-done');
    assert.match((await summary.textContent()) ?? '', /1 already present, 2 skipped/);
    await page.getByText(/names this machine itself/).waitFor();
    const seen = await page.evaluate(() => (window as unknown as { progressSeen: string[] }).progressSeen.map(Number));
    assert.ok(
      seen.some((value) => value > 0 && value < 100),
      `the bar moved through intermediate values: ${seen.join(', ')}`,
    );
    await page.getByRole('button', { name: 'Close' }).click();
    // The entries are a list, not rules: the rule count stays.
    const total = rulesBefore.toLocaleString('en-US');
    await page.getByText(`${total} of ${total} rules`).waitFor();
    await session.screenshot('08-imported-list');
  });

  test('import from OpenSnitch: rule files picked in the app become rules in the helper; a second import adds nothing', async () => {
    const { page } = session;
    const dir = join(sandbox.makeTempDir('opensnitch'), 'rules');
    mkdirSync(dir);
    const write = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const rule = (name: string, operator: Record<string, unknown>) =>
      `${JSON.stringify({ name, enabled: true, action: 'deny', duration: 'always', operator: { sensitive: false, list: [], ...operator } }, null, 2)}\n`;
    const simple = (operand: string, data: string) => ({ type: 'simple', operand, data });
    const files = [
      write(
        '000-deny-e2e.json',
        rule('000-deny-e2e', {
          type: 'list',
          operand: 'list',
          data: '',
          list: [simple('dest.ip', '127.0.0.79'), simple('dest.port', '9'), simple('protocol', 'tcp')],
        }),
      ),
      write('010-cmdline.json', rule('010-cmdline', simple('process.command', 'curl example.org'))),
      write('014-broken.json', '{\n  "name": "014-broken",\n  "operator": {,\n}\n'),
      write(
        '020-huge.json',
        rule('020-huge', { ...simple('dest.ip', '127.0.0.80'), description: 'x'.repeat(2 << 20) }),
      ),
    ];
    const client = await helper.client('e2e-opensnitch');
    const imported = async () =>
      (await client.call('rules.list')).filter((stored) => stored.note === 'OpenSnitch: 000-deny-e2e');

    const importFiles = async () => {
      await page.getByRole('tab', { name: /Rules/ }).click();
      await page.getByRole('button', { name: 'Import from OpenSnitch…' }).click();
      const dialog = page.getByRole('dialog', { name: 'Import from OpenSnitch' });
      await dialog.getByLabel('OpenSnitch rule files').setInputFiles(files);
      await dialog.getByTestId('opensnitch-chosen').filter({ hasText: '4 files chosen' }).waitFor();
      await dialog.getByRole('button', { name: 'Import', exact: true }).click();
      return dialog;
    };

    const dialog = await importFiles();
    const summary = dialog.getByTestId('import-summary');
    await summary
      .filter({ hasText: 'Imported from 4 OpenSnitch rule files: 1 rule added, 0 already present, 3 skipped.' })
      .waitFor({ timeout: 30_000 });
    const skipped = await dialog.getByRole('list', { name: 'Not imported' }).getByRole('listitem').allTextContents();
    assert.equal(skipped.length, 3, skipped.join('\n'));
    assert.match(skipped[0]!, /^010-cmdline\.json: 010-cmdline — /);
    assert.match(skipped[1]!, /^014-broken\.json:3: 014-broken\.json — not valid JSON at line 3/);
    assert.match(
      skipped[2]!,
      /^020-huge\.json: 020-huge\.json — \d+ bytes, more than the 1048576 a rule file may hold/,
    );
    await session.screenshot('11-opensnitch-import');
    const rules = await imported();
    assert.deepEqual(
      rules.map((stored) => [stored.action, stored.appId, formatRemote(stored.remote), stored.ports, stored.protocol]),
      [['block', null, '127.0.0.79', { from: 9, to: 9 }, 'tcp']],
    );
    await dialog.getByRole('button', { name: 'Close' }).click();

    const again = await importFiles();
    await again
      .getByTestId('import-summary')
      .filter({ hasText: 'Nothing new from 4 OpenSnitch rule files: 1 already present, 3 skipped.' })
      .waitFor({ timeout: 30_000 });
    assert.deepEqual(
      (await imported()).map((stored) => stored.id),
      rules.map((stored) => stored.id),
    );
    await again.getByRole('button', { name: 'Close' }).click();
  });

  test('import from OpenSnitch: the rules folder picked whole, its .json files read as rules, other files ignored', async () => {
    const { page } = session;
    const dir = join(sandbox.makeTempDir('opensnitch-folder'), 'rules');
    mkdirSync(join(dir, 'old'), { recursive: true });
    const ruleFiles = {
      '100-deny-folder.json': openSnitchRuleText(
        '100-deny-folder',
        'deny',
        all(simple('dest.ip', '127.0.0.83'), simple('dest.port', '9'), simple('protocol', 'tcp')),
      ),
      '101-reject-folder.json': openSnitchRuleText(
        '101-reject-folder',
        'reject',
        simple('dest.host', 'folder.example'),
      ),
      // What OpenSnitch itself would not load: a backup beside the rules, a rule in a subfolder.
      '102-deny-backup.json.bak': openSnitchRuleText('102-deny-backup', 'deny', simple('dest.ip', '127.0.0.84')),
      'old/103-deny-old.json': openSnitchRuleText('103-deny-old', 'deny', simple('dest.ip', '127.0.0.85')),
    };
    for (const [name, text] of Object.entries(ruleFiles)) writeFileSync(join(dir, name), text);

    await page.getByRole('tab', { name: /Rules/ }).click();
    await page.getByRole('button', { name: 'Import from OpenSnitch…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Import from OpenSnitch' });
    await dialog.getByLabel('OpenSnitch rules folder').setInputFiles(dir);
    await dialog
      .getByTestId('opensnitch-chosen')
      .filter({ hasText: '2 rule files chosen from “rules” (2 other files ignored).' })
      .waitFor();
    await session.screenshot('12-opensnitch-folder');
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    await dialog
      .getByTestId('import-summary')
      .filter({ hasText: 'Imported from 2 OpenSnitch rule files: 2 rules added, 0 already present, 0 skipped.' })
      .waitFor({ timeout: 30_000 });
    const client = await helper.client('e2e-opensnitch-folder');
    const stored = (await client.call('rules.list'))
      .filter((rule) => rule.note.startsWith('OpenSnitch: 10'))
      .map((rule) => [rule.note, rule.action, formatRemote(rule.remote)]);
    assert.deepEqual(stored, [
      ['OpenSnitch: 100-deny-folder', 'block', '127.0.0.83'],
      ['OpenSnitch: 101-reject-folder', 'block', 'folder.example'],
    ]);
    await dialog.getByRole('button', { name: 'Close' }).click();
  });
});
