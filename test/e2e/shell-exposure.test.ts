// What another local user can get from a running browser shell: nothing. With the shell serving a
// real headless Chromium against a real helper, a throwaway test user scans every /proc command
// line and environment it can read for the sign-in codes and the session cookie, tries to read the
// launch page, and connects to the shell's port forging Host, Origin and even the stolen cookie.
// The launching user's page keeps working throughout, and a malformed address is a 400.
// The second test runs `portcullis-shell --open` itself, so the browser command line checked is the
// one the product builds.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox, killAndWait } from '../support/sandbox.js';
import { HelperProcess, REPO_ROOT } from '../support/helper-process.js';
import { makeUser, type TestUser } from '../support/polkit-env.js';
import { canReadAs, codeOf, forgedRequestsAs, scanProcAs, signInLinkOf } from '../support/shell-probes.js';
import { buildRenderer, CHROMIUM, openShell, type ShellSession } from './browser-support.js';
import { eventually } from '../support/eventually.js';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the browser shell exposes nothing to another local user', () => {
  const sandbox = new Sandbox();
  let helper: HelperProcess;
  let stranger: TestUser;

  before(async () => {
    helper = await HelperProcess.start(sandbox);
    stranger = makeUser(sandbox, 'peek');
  });
  after(() => sandbox.dispose());

  test('Chromium driven by playwright: no code or cookie readable, a forged connection refused, the page works, /%E0 is a 400', async () => {
    const session: ShellSession = await openShell(sandbox, helper.paths.socket);
    const { page, shell } = session;
    // The page works: the wizard's checks come over the WebSocket from the backend.
    await page.locator('[data-check="kernel"]').waitFor();
    assert.ok(session.shellLog.includes('portcullis shell: a browser signed in'), session.shellLog.join('\n'));

    const cookies = await session.context.cookies(shell.origin);
    const sessionCookie = cookies.find((cookie) => cookie.name === `portcullis-shell-${new URL(shell.origin).port}`);
    assert.ok(sessionCookie, `a session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(sessionCookie.httpOnly, true);
    assert.equal(sessionCookie.sameSite, 'Strict');
    const liveCode = codeOf(signInLinkOf(shell.launchUrl));
    const secrets = [session.signInCode, liveCode, sessionCookie.value];

    const seen = await scanProcAs(stranger.uid, secrets);
    assert.ok(
      seen.read.cmdline > 0 && seen.chromium.length > 0,
      `the scan saw Chromium's command lines: ${JSON.stringify(seen.read)}`,
    );
    assert.deepEqual(seen.hits, [], 'no code or cookie in anything the other user can read');
    assert.equal(
      await canReadAs(stranger.uid, fileURLToPath(shell.launchUrl)),
      false,
      "the launch page is the user's alone",
    );

    const port = Number(new URL(shell.origin).port);
    const forged = await forgedRequestsAs(stranger.uid, port, `${sessionCookie.name}=${sessionCookie.value}`);
    assert.ok(!forged.get.startsWith('HTTP/'), `the other user's GET was answered: ${forged.get}`);
    assert.ok(!forged.upgrade.startsWith('HTTP/'), `the other user's WebSocket was answered: ${forged.upgrade}`);
    assert.ok(
      session.shellLog.some((line) => line.includes(`refused uid ${stranger.uid}: not the user who started the shell`)),
      session.shellLog.join('\n'),
    );

    const malformed = await get(`${shell.origin}/%E0`);
    assert.equal(malformed.status, 400);
    // Still serving, and the signed-in page still talks to it after a reload.
    await page.reload();
    await page.locator('[data-check="kernel"]').waitFor();
    assert.equal((await get(`${shell.origin}/`)).status, 200);
  });

  test('`portcullis-shell --open`: the browser is given the launch page, no secret, and signs in', async () => {
    // The product's own launch, with Chromium made headless by a wrapper (the shell passes its flags on).
    const dir = sandbox.makeTempDir('shell-open');
    chmodSync(dir, 0o755);
    const browser = join(dir, 'headless-chromium');
    writeFileSync(browser, `#!/bin/sh\nexec ${CHROMIUM} --headless=new --disable-gpu "$@"\n`, { mode: 0o755 });
    const shell = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(REPO_ROOT, 'main', 'shell', 'entry.ts'),
        '--socket',
        helper.paths.socket,
        '--config-dir',
        sandbox.makeTempDir('config'),
        '--renderer',
        buildRenderer(),
        '--open',
        '--browser',
        browser,
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    sandbox.defer(() => killAndWait(shell));
    let output = '';
    shell.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    shell.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    await eventually(
      () => output,
      (said) => said.includes('a browser signed in') || shell.exitCode !== null,
      'a browser signed in',
      { timeoutMs: 60_000, everyMs: 100, describe: (said) => `not said; the shell said:\n${said}` },
    );
    assert.ok(output.includes('a browser signed in'), `the shell ended (${shell.exitCode}) first:\n${output}`);
    const launchUrl = /\(open (file:\/\/\S+)\)/.exec(output)?.[1];
    assert.ok(launchUrl, output);
    const liveCode = codeOf(signInLinkOf(launchUrl));
    const launchPage = readFileSync(fileURLToPath(launchUrl), 'utf8');

    // As root every environment is readable too: no child of the shell carries the code.
    let profile: string | undefined;
    for (const uid of [stranger.uid, 0]) {
      const seen = await scanProcAs(uid, [liveCode]);
      assert.deepEqual(seen.hits, [], `uid ${uid} found the code`);
      const appWindow = seen.chromium.find((line) => line.includes('--app='));
      assert.ok(appWindow, `uid ${uid} sees the browser's command line`);
      assert.match(appWindow, new RegExp(`--app=${launchUrl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( |$)`));
      assert.doesNotMatch(appWindow, /code=|token=|sign-in/);
      profile = /--user-data-dir=(\S+)/.exec(appWindow)?.[1];
    }
    assert.ok(!launchPage.includes('token'), launchPage);
    assert.ok(profile && existsSync(profile), 'the browser runs with a profile of its own');
    shell.kill('SIGTERM');
    await new Promise((resolve) => shell.once('exit', resolve));
    // Chromium writes its profile while it shuts down: the shell removes it only after the browser is gone.
    assert.ok(!existsSync(profile), `the browser's profile ${profile} is left behind`);
  });
});
