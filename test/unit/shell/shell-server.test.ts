// The browser shell over real HTTP and a real WebSocket: who may connect (token, Origin, Host), what
// it serves, and that requests pass the contract's schemas. The backend is the real one with no
// helper running, so helper calls fail the way they do on a machine where it is stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import WebSocket from 'ws';
import { PortcullisError } from '../../../main/contract/index.js';
import { createIpcBackend } from '../../../main/app/ipc-backend.js';
import { WizardStore } from '../../../main/app/wizard-store.js';
import { startShellServer, type ShellServer } from '../../../main/shell/shell-server.js';

async function withShell(run: (shell: ShellServer) => Promise<void>): Promise<void> {
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
  const shell = await startShellServer({ backend, rendererDir, log: () => undefined });
  try {
    await run(shell);
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

function open(url: string, origin: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { origin });
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

test('serves the renderer with a CSP on loopback, and nothing outside it', async () => {
  await withShell(async (shell) => {
    assert.match(shell.origin, /^http:\/\/127\.0\.0\.1:\d+$/);
    const index = await get(`${shell.origin}/`);
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-security-policy']), /default-src 'none'.*frame-ancestors 'none'/);
    assert.equal((await get(`${shell.origin}/../secret.txt`)).status, 404);
    assert.equal((await get(`${shell.origin}/%2e%2e/secret.txt`)).status, 404);
    // DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own Host.
    assert.equal((await get(`${shell.origin}/`, { host: 'evil.example' })).status, 421);
  });
});

test("the WebSocket needs this launch's token and our own Origin", async () => {
  await withShell(async (shell) => {
    const ipc = `ws://127.0.0.1:${new URL(shell.origin).port}/ipc`;
    await assert.rejects(open(`${ipc}?token=wrong`, shell.origin), /HTTP 403/);
    await assert.rejects(open(`${ipc}?token=${shell.token}`, 'http://evil.example'), /HTTP 403/);
    await assert.rejects(open(`${ipc}?token=${shell.token}`, 'null'), /HTTP 403/);
    const ws = await open(`${ipc}?token=${shell.token}`, shell.origin);
    assert.deepEqual(await rpc(ws, 'portcullis:getWizardState', {}), {
      ok: true,
      value: { completed: false, mode: null },
    });
    ws.close();
  });
});

test('requests are validated with the contract and failures keep their kind', async () => {
  await withShell(async (shell) => {
    const ws = await open(`ws://127.0.0.1:${new URL(shell.origin).port}/ipc?token=${shell.token}`, shell.origin);
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
