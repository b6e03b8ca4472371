// Ask mode in the desktop app, through the browser shell in Debian's Chromium, against a real helper
// in ask mode: an app's held connection shows up as a question with the app and the host (and a
// badge); clicking Allow for 15 minutes lets it complete, and the new rule is in the editor.
// Screenshots go to test-artifacts/e2e/.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, type TestHost } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { openShell, type ShellSession } from './browser-support.js';
import { BODY, copyApp, startCurl, startWebServer, urlOf } from '../integration/ask-rig.js';

const WEB_PORT = 8080;

describe('ask mode in the desktop app, real helper', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let session: ShellSession;
  let host: TestHost;

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    host = sandbox.makeTestHost(1);
    await startWebServer(sandbox, host, WEB_PORT);
    session = await openShell(sandbox, helper.paths.socket);
    // Past the first-run wizard (desktop-flow.test.ts covers it), then ask mode.
    // The shell reaches the helper on its own a moment after it opens (later on a busy machine).
    for (let attempt = 0; ; attempt++) {
      try {
        await session.backend.handlers.completeWizard({ mode: 'monitor', startAtBoot: false });
        break;
      } catch (err) {
        if (attempt >= 100 || (err as { kind?: string }).kind !== 'unavailable') throw err;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    const client = await helper.client('e2e-setup');
    await client.call('settings.update', { patch: { defaultAction: 'ask', askTimeoutSec: 90 } });
    await session.page.reload();
  });
  after(() => sandbox.dispose());

  test('a held connection is a question with its app and host; Allow for 15 minutes completes it and shows the rule', async () => {
    const { page } = session;
    await page.getByTestId('enforcement-state').filter({ hasText: 'ask mode' }).waitFor();
    const curl = startCurl(
      sandbox,
      helper.paths.cgroup,
      urlOf(host.peer4, WEB_PORT),
      copyApp(sandbox, '/usr/bin/curl', 'e2e-fetcher'),
    );

    await page.getByTestId('prompt-badge').filter({ hasText: '1' }).waitFor({ timeout: 15_000 });
    await page.getByRole('tab', { name: /Questions/ }).click();
    const card = page.getByTestId('prompt-card').filter({ hasText: 'e2e-fetcher' });
    await card.waitFor();
    assert.match(
      (await card.getByTestId('prompt-host').textContent()) ?? '',
      new RegExp(host.peer4.replaceAll('.', '\\.')),
    );
    assert.match((await card.textContent()) ?? '', /tcp 8080/);
    await session.screenshot('ask-01-question');
    assert.equal(curl.exited(), false, 'the connection waits while the question is open');

    await card.getByLabel('How long').selectOption('15m');
    await card.getByRole('button', { name: 'Allow', exact: true }).click();
    const done = await curl.done;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(done.stdout, BODY);
    await card.waitFor({ state: 'detached' });
    await page.getByTestId('prompt-badge').filter({ hasText: '0' }).waitFor();

    await page.getByRole('tab', { name: /Rules/ }).click();
    const ruleRow = page.locator(`[data-rule-remote="${host.peer4}"]`);
    await ruleRow.waitFor();
    const text = (await ruleRow.textContent()) ?? '';
    assert.match(text, /allow/);
    await session.screenshot('ask-02-rule');
  });
});
