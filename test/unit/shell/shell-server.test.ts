// The browser shell over real HTTP and a real WebSocket: who may connect (the launching uid, the
// one-time code, the session cookie, Origin, Host), what it serves, that malformed requests get a
// 400 and not a crash, and that requests pass the contract's schemas. The backend is the real one
// with no helper running, so helper calls fail the way they do on a machine where it is stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import WebSocket from 'ws';
import { PortcullisError } from '../../../main/contract/index.js';
import { createIpcBackend } from '../../../main/app/ipc-backend.js';
import { WizardStore } from '../../../main/app/wizard-store.js';
import { startShellServer, type ShellServer } from '../../../main/shell/shell-server.js';
import { forgedRequestsAs, signInLinkOf } from '../../support/shell-probes.js';

async function withShell(run: (shell: ShellServer, launchDir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-shell-test-'));
  // A file beside the served directory, which no path may reach.
  writeFileSync(join(dir, 'secret.txt'), 'outside');
  const rendererDir = join(dir, 'renderer');
  mkdirSync(rendererDir);
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Portcullis</title>');
  const backend = createIpcBackend({
    connect: () => Promise.reject(new PortcullisError('unavailable', 'the helper is not running (test)')),
    launch: async () => ({ ok: false, state: { state: 'refused', message: 'not authorised (test)' } }),
    runChecks: async () => [],
    wizard: new WizardStore(join(dir, 'wizard.json')),
    enableAtBoot: async () => undefined,
    retryMs: 0,
  });
  const launchDir = join(dir, 'runtime');
  mkdirSync(launchDir, { mode: 0o700 });
  const shell = await startShellServer({ backend, rendererDir, log: () => undefined, launchDir });
  try {
    await run(shell, launchDir);
  } finally {
    await shell.close();
    backend.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Signs in with the launch page's code as a browser would; returns the session cookie ("name=value"). */
async function signIn(shell: ShellServer): Promise<string> {
  const answer = await get(signInLinkOf(shell.launchUrl), { host: new URL(shell.origin).host });
  assert.equal(answer.status, 303, answer.body);
  const cookie = String((answer.headers['set-cookie'] as string[])[0]);
  return cookie.split(';')[0]!;
}

function open(url: string, origin: string, cookie?: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin, ...(cookie ? { headers: { cookie } } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function rpc(
  ws: WebSocket,
  channel: string,
  body: unknown,
): Promise<{ ok: boolean; value?: unknown; error?: { kind: string; message: string; where?: string } }> {
  const id = Math.floor(Math.random() * 1e9);
  return new Promise((resolve) => {
    const onMessage = (data: WebSocket.RawData) => {
      const frame = JSON.parse(data.toString());
      if (frame.id !== id) return;
      ws.off('message', onMessage);
      resolve(frame.result);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ id, channel, request: body }));
  });
}

test('serves the renderer with a CSP on loopback, and nothing outside it; a malformed address is a 400, not a crash', async () => {
  await withShell(async (shell) => {
    assert.match(shell.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
    const index = await get(`${shell.origin}/`);
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/);
    assert.equal((await get(`${shell.origin}/../secret.txt`)).status, 404);
    assert.equal((await get(`${shell.origin}/%2e%2e/secret.txt`)).status, 404);
    // DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own Host.
    assert.equal((await get(`${shell.origin}/`, { host: 'evil.example' })).status, 421);
    // Not UTF-8 once decoded: this used to throw in an unawaited handler and end the shell.
    const malformed = await get(`${shell.origin}/%E0`);
    assert.deepEqual([malformed.status, malformed.body], [400, 'malformed address\n']);
    assert.equal((await get(`${shell.origin}/sign-in%E0%A4%A`)).status, 400);
    assert.equal((await get(`${shell.origin}/`)).status, 200, 'the shell keeps serving');
  });
});

test('the launch page is private and names no secret; its code signs in once, for an HttpOnly SameSite=Strict cookie', async () => {
  await withShell(async (shell, launchDir) => {
    const pagePath = fileURLToPath(shell.launchUrl);
    assert.equal(dirname(dirname(pagePath)), launchDir);
    assert.equal(statSync(dirname(pagePath)).mode & 0o777, 0o700);
    assert.equal(statSync(pagePath).mode & 0o777, 0o600);
    const link = signInLinkOf(shell.launchUrl);
    const code = new URL(link).searchParams.get('code')!;
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    assert.ok(!shell.launchUrl.includes(code), 'what the browser is given holds no code');

    const first = await get(link);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, '/');
    assert.match(
      String((first.headers['set-cookie'] as string[])[0]),
      new RegExp(
        `^portcullis-shell-${new URL(shell.origin).port}=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=/$`,
      ),
    );
    // The code is dead; the page now holds the next one (to open another window later).
    const again = await get(link);
    assert.equal(again.status, 403);
    assert.match(again.body, /used already/);
    assert.equal((await get(`${shell.origin}/sign-in?code=guess`)).status, 403);
    assert.notEqual(signInLinkOf(shell.launchUrl), link);
    assert.equal((await get(signInLinkOf(shell.launchUrl))).status, 303);
  });
});

test('the WebSocket needs a signed-in session and our own Origin', async () => {
  await withShell(async (shell) => {
    const ipc = `ws://127.0.0.1:${new URL(shell.origin).port}/ipc`;
    await assert.rejects(open(ipc, shell.origin), /HTTP 403/);
    const cookie = await signIn(shell);
    const [name] = cookie.split('=');
    await assert.rejects(open(ipc, shell.origin, `${name}=${'A'.repeat(43)}`), /HTTP 403/);
    await assert.rejects(open(ipc, 'http://evil.example', cookie), /HTTP 403/);
    await assert.rejects(open(ipc, 'null', cookie), /HTTP 403/);
    await assert.rejects(open(`${ipc}?x=%E0`, 'http://evil.example', cookie), /HTTP 403/);
    const ws = await open(ipc, shell.origin, cookie);
    assert.deepEqual(await rpc(ws, 'portcullis:getWizardState', {}), {
      ok: true,
      value: { completed: false, mode: null },
    });
    ws.close();
  });
});

test(
  'a connection from another uid is closed unanswered, whatever headers it sends',
  { skip: process.getuid?.() !== 0 && 'needs root to run a peer as another uid' },
  async () => {
    await withShell(async (shell) => {
      const cookie = await signIn(shell);
      const port = new URL(shell.origin).port;
      const answers = await forgedRequestsAs(65534, Number(port), cookie);
      assert.ok(
        !answers.get.startsWith('HTTP/') && !answers.upgrade.startsWith('HTTP/'),
        `another uid got an answer: ${JSON.stringify(answers)}`,
      );
      assert.equal((await get(`${shell.origin}/`)).status, 200, 'this uid is still served');
    });
  },
);

test('requests are validated with the contract and failures keep their kind', async () => {
  await withShell(async (shell) => {
    const ws = await open(`ws://127.0.0.1:${new URL(shell.origin).port}/ipc`, shell.origin, await signIn(shell));
    const notices: unknown[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.channel) notices.push(frame);
    });
    const bad = await rpc(ws, 'portcullis:completeWizard', { mode: 'paranoid', startAtBoot: false });
    assert.equal(bad.ok, false);
    assert.equal(bad.error!.kind, 'invalid-input');
    assert.equal(bad.error!.where, 'request.mode');
    assert.equal((await rpc(ws, 'portcullis:rmRf', {})).error!.kind, 'invalid-input');
    const extra = await rpc(ws, 'portcullis:completeWizard', { mode: 'monitor', startAtBoot: false, sneaky: 1 });
    assert.equal(extra.error!.where, 'request.sneaky');
    // The helper's own methods go on to the helper, which checks them (here: none is running).
    const rules = await rpc(ws, 'portcullis:listRules', {});
    assert.equal(rules.error!.kind, 'unavailable');
    assert.deepEqual(await rpc(ws, 'portcullis:getHelperState', {}), {
      ok: true,
      value: { state: 'not-running', message: 'the helper is not running (test)' },
    });
    const started = await rpc(ws, 'portcullis:startHelper', {});
    assert.deepEqual(started.value, { state: 'refused', message: 'not authorised (test)' });
    // The state change also went out as a notification to every client.
    assert.ok(
      notices.some(
        (frame) =>
          JSON.stringify(frame) ===
          JSON.stringify({
            channel: 'portcullis:helperState',
            payload: { state: 'refused', message: 'not authorised (test)' },
          }),
      ),
    );
    ws.close();
  });
});
