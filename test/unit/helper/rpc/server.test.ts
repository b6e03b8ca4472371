// The RPC server and the client over a real unix socket: framing, the hello gate, validation and
// errors with kinds. Peer credentials come from the native addon in the real helper (tested in
// test/integration); here the server is given the caller's own identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import { mkdtempSync, rmSync, statSync, chmodSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROTOCOL_VERSION, PortcullisError } from '../../../../main/contract/index.js';
import { RpcServer } from '../../../../main/helper/rpc/server.js';
import { HelperClient } from '../../../../main/client/helper-client.js';
import type { HandlerTable } from '../../../../main/helper/rpc/handler.js';
import type { AdmissionLimits } from '../../../../main/helper/rpc/admission.js';
import { eventually } from '../../../support/eventually.js';

const self = { pid: process.pid, uid: 0, gid: 0 };

async function startServer(
  t: { after(fn: () => Promise<void> | void): void },
  options: { authorized?: boolean; handlers?: HandlerTable; limits?: Partial<AdmissionLimits> } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rpc-'));
  const socketPath = join(dir, 'run', 'helper.sock');
  const logs: string[] = [];
  const server = await RpcServer.listen({
    socketPath,
    handlers: options.handlers ?? {
      'settings.get': () => ({
        defaultAction: 'allow',
        retentionDays: 1,
        authorizedUsers: [],
        notifyOnFirstBlock: false,
        askTimeoutSec: 30,
        askTimeoutAction: 'block',
      }),
      'rules.remove': async ({ ids }) => ({ removed: ids }),
    },
    version: '9.9.9',
    peerOf: () => self,
    isAuthorized: () => options.authorized ?? true,
    log: (line) => logs.push(line),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { socketPath, logs, dir };
}

/** A raw connection that records every line the server sends. */
async function raw(socketPath: string) {
  const socket: Socket = createConnection(socketPath);
  await new Promise((resolve) => socket.once('connect', resolve));
  const lines: Array<Record<string, unknown>> = [];
  let buffer = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk) => {
    buffer += chunk.toString();
    let newline;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      lines.push(JSON.parse(buffer.slice(0, newline)));
      buffer = buffer.slice(newline + 1);
      waiters.splice(0).forEach((w) => w());
    }
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    closed,
    send: (text: string | Buffer) => socket.write(text),
    /** Waits until n lines have arrived, then returns the n-th. */
    async nth(n: number) {
      while (lines.length < n) await new Promise<void>((resolve) => waiters.push(resolve));
      return lines[n - 1]!;
    },
  };
}

const errorOf = (line: Record<string, unknown>) =>
  line.error as { code: number; message: string; data: { kind: string; where?: string } };

test('socket directory is made 0755 and the socket 0666; a stale socket file is replaced', async (t) => {
  const { socketPath, dir } = await startServer(t);
  assert.equal(statSync(join(dir, 'run')).mode & 0o777, 0o755);
  assert.equal(statSync(socketPath).mode & 0o777, 0o666);
  await assert.rejects(
    RpcServer.listen({
      socketPath,
      handlers: {},
      version: 'x',
      peerOf: () => self,
      isAuthorized: () => true,
      log: () => {},
    }),
    /already serving/,
  );
});

test('a group-writable socket directory is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rpc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o775);
  await assert.rejects(
    RpcServer.listen({
      socketPath: join(dir, 's.sock'),
      handlers: {},
      version: 'x',
      peerOf: () => self,
      isAuthorized: () => true,
      log: () => {},
    }),
    /writable by group or others \(mode 775\)/,
  );
});

test('the client says hello, calls typed methods and gets errors with kinds', async (t) => {
  const { socketPath } = await startServer(t);
  const client = await HelperClient.connect({ socketPath, clientName: 'test' });
  t.after(() => client.close());
  assert.deepEqual(client.hello, { protocol: PROTOCOL_VERSION, version: '9.9.9', uid: 0 });
  assert.equal((await client.call('settings.get')).retentionDays, 1);
  assert.deepEqual(await client.call('rules.remove', { ids: [3, 4] }), { removed: [3, 4] });
  await assert.rejects(
    client.call('rules.remove', { ids: [0] }),
    (error: PortcullisError) =>
      error.kind === 'invalid-input' &&
      error.where === 'params.ids[0]' &&
      /params\.ids\[0\]: must be between 1 and/.test(error.message),
  );
  await assert.rejects(
    client.call('status'),
    (error: PortcullisError) => error.kind === 'not-found' && /"status" is not available/.test(error.message),
  );
});

test('a missing socket is "unavailable" and says how to start the helper', async () => {
  await assert.rejects(
    HelperClient.connect({ socketPath: '/nonexistent/helper.sock', clientName: 'test' }),
    (error: PortcullisError) =>
      error.kind === 'unavailable' && /not running.*sudo portcullis helper/.test(error.message),
  );
});

test('an unauthorised peer is refused with kind "unauthorized", and the refusal is logged', async (t) => {
  const { socketPath, logs } = await startServer(t, { authorized: false });
  await assert.rejects(
    HelperClient.connect({ socketPath, clientName: 'test' }),
    (error: PortcullisError) => error.kind === 'unauthorized' && /uid 0 is not authorised/.test(error.message),
  );
  assert.ok(
    logs.some((line) => /refused uid 0 \(pid \d+\): not authorised/.test(line)),
    logs.join('\n'),
  );
});

test('refusals are logged once per uid and interval, with a count of the rest', async (t) => {
  const { socketPath, logs } = await startServer(t, { authorized: false, limits: { logIntervalMs: 300 } });
  for (let i = 0; i < 20; i++) {
    await assert.rejects(
      HelperClient.connect({ socketPath, clientName: 'test' }),
      (error: PortcullisError) => error.kind === 'unauthorized',
    );
  }
  assert.equal(logs.filter((line) => line.startsWith('refused uid 0')).length, 1, logs.join('\n'));
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.deepEqual(logs, [
    `refused uid 0 (pid ${process.pid}): not authorised`,
    'refused uid 0 19 more time(s) in the last 0.3 s: not authorised',
  ]);
});

test('a refused peer that never writes is closed by the server; past the linger budget at once', async (t) => {
  const { socketPath } = await startServer(t, { authorized: false, limits: { lingerPerUid: 2, lingerTotal: 2 } });
  const silent: Array<Awaited<ReturnType<typeof raw>>> = [];
  for (let i = 0; i < 3; i++) silent.push(await raw(socketPath)); // accepted in this order
  // The third is over the budget: closed right after its refusal was written.
  await silent[2]!.closed;
  assert.equal(errorOf(await silent[2]!.nth(1)).data.kind, 'unauthorized');
  // The other two are closed by the server though they never write (the linger ends, 250 ms).
  await eventually(
    () => silent.slice(0, 2).map((c) => c.socket.closed),
    (closed) => closed.every(Boolean),
    'the silent refused peers closed by the server',
  );
  for (const c of silent.slice(0, 2)) assert.match(errorOf(await c.nth(1)).message, /uid 0 is not authorised/);
});

test('connections per uid are capped; a closed one frees its slot', async (t) => {
  // Root has no total limit but its own per-uid one, like every uid.
  const { socketPath, logs } = await startServer(t, { limits: { servedPerUid: 2 } });
  const first = await HelperClient.connect({ socketPath, clientName: 'one' });
  const second = await HelperClient.connect({ socketPath, clientName: 'two' });
  t.after(() => {
    first.close();
    second.close();
  });
  await assert.rejects(
    HelperClient.connect({ socketPath, clientName: 'three' }),
    (error: PortcullisError) =>
      error.kind === 'unavailable' &&
      /uid 0 already has 2 connections open \(at most 2\); close some/.test(error.message),
  );
  assert.ok(
    logs.some((line) => /refused uid 0 \(pid \d+\): at the connection limit/.test(line)),
    logs.join('\n'),
  );
  first.close();
  for (let tries = 0; ; tries++) {
    try {
      const again = await HelperClient.connect({ socketPath, clientName: 'again' });
      assert.equal((await again.call('settings.get')).retentionDays, 1);
      again.close();
      break;
    } catch (error) {
      // The server learns of the close on its next turn; a retry or two is the honest wait.
      if (tries > 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  assert.equal((await second.call('settings.get')).retentionDays, 1);
});

test('the total cap counts authorised uids but root; refused peers never take a slot', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-rpc-'));
  let nextUid = 0;
  const server = await RpcServer.listen({
    socketPath: join(dir, 'run', 'helper.sock'),
    handlers: {
      'settings.get': () => ({
        defaultAction: 'allow',
        retentionDays: 1,
        authorizedUsers: [],
        notifyOnFirstBlock: false,
        askTimeoutSec: 30,
        askTimeoutAction: 'block',
      }),
    },
    version: '1',
    log: () => {},
    peerOf: () => ({ pid: process.pid, uid: nextUid, gid: nextUid }),
    isAuthorized: (uid) => uid !== 666,
    limits: { servedPerUid: 5, servedTotal: 2 },
  });
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const socketPath = join(dir, 'run', 'helper.sock');
  const as = async (uid: number) => {
    nextUid = uid;
    return HelperClient.connect({ socketPath, clientName: `uid ${uid}` });
  };
  // A stranger's connections, refused, hold nothing.
  for (let i = 0; i < 10; i++) await assert.rejects(as(666), (error: PortcullisError) => error.kind === 'unauthorized');
  const held = [await as(1000), await as(1001)];
  t.after(() => held.forEach((client) => client.close()));
  await assert.rejects(
    as(1002),
    (error: PortcullisError) =>
      error.kind === 'unavailable' && /the helper serves at most 2 connections; close some/.test(error.message),
  );
  // Root is outside the total: it can always get in to fix things.
  const root = await as(0);
  assert.equal((await root.call('settings.get')).retentionDays, 1);
  root.close();
});

test('bad input on the socket: each answered with a kind; the connection and other clients keep working', async (t) => {
  const { socketPath } = await startServer(t);
  const other = await HelperClient.connect({ socketPath, clientName: 'bystander' });
  t.after(() => other.close());
  const c = await raw(socketPath);
  t.after(() => c.socket.destroy());

  c.send('{"jsonrpc":"2.0","id":1,"method":"settings.get"}\n');
  assert.match(errorOf(await c.nth(1)).message, /send "hello" first/);
  assert.equal(errorOf(await c.nth(1)).data.kind, 'protocol');

  c.send('{"jsonrpc":"2.0","id":2,"method":"hello","params":{"protocol":1,"client":"raw"}}\n');
  assert.equal((await c.nth(2)).id, 2);

  c.send('{"jsonrpc": "2.0", "id": 3, "method"\n');
  const malformed = errorOf(await c.nth(3));
  assert.deepEqual([malformed.code, malformed.data.kind], [-32700, 'protocol']);
  assert.match(malformed.message, /malformed JSON/);

  c.send(
    Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":4,"method":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
  );
  assert.match(errorOf(await c.nth(4)).message, /not valid UTF-8/);

  c.send('{"jsonrpc":"2.0","id":5,"method":"rules.explode"}\n');
  const unknown = await c.nth(5);
  assert.equal(unknown.id, 5);
  assert.deepEqual([errorOf(unknown).code, errorOf(unknown).data.kind], [-32601, 'not-found']);
  assert.match(errorOf(unknown).message, /unknown method "rules.explode"/);

  c.send('{"jsonrpc":"2.0","id":6,"method":"rules.remove","params":{"ids":"7"}}\n');
  const wrongType = errorOf(await c.nth(6));
  assert.deepEqual(
    [wrongType.code, wrongType.data.kind, wrongType.data.where],
    [-32602, 'invalid-input', 'params.ids'],
  );
  assert.match(wrongType.message, /params\.ids: must be a list, got "7"/);

  c.send('[1,2]\n');
  assert.match(errorOf(await c.nth(7)).message, /must be a JSON object/);

  c.send('{"jsonrpc":"2.0","id":8,"method":"settings.get"}\n');
  assert.equal(((await c.nth(8)).result as { retentionDays: number }).retentionDays, 1);
  assert.equal((await other.call('settings.get')).retentionDays, 1);
});

test('a client name with control characters is refused, so it cannot forge log lines', async (t) => {
  const { socketPath, logs } = await startServer(t);
  const c = await raw(socketPath);
  t.after(() => c.socket.destroy());
  c.send(
    `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'hello', params: { protocol: PROTOCOL_VERSION, client: 'cli\nportcullis-helper: ready' } })}\n`,
  );
  const refused = errorOf(await c.nth(1));
  assert.deepEqual([refused.data.kind, refused.data.where], ['invalid-input', 'params.client']);
  assert.equal(
    refused.message,
    'params.client: must not contain control characters or line breaks, found U+000A at position 4',
  );
  for (const name of ['a\u001b[2Jb', 'x\u0085', 'tab\there', 'ls\u2028']) {
    await assert.rejects(
      HelperClient.connect({ socketPath, clientName: name }),
      (error: PortcullisError) =>
        error.kind === 'invalid-input' && /^params\.client: must not contain control characters/.test(error.message),
    );
  }
  // Names people write (accents, spaces, other scripts) pass.
  const client = await HelperClient.connect({ socketPath, clientName: 'Électron app — 火' });
  client.close();
  assert.ok(!logs.some((line) => line.includes('\n')), logs.join('|'));
});

test('a 10 MB line is refused and that connection closed; other clients are still served', async (t) => {
  const { socketPath } = await startServer(t);
  const other = await HelperClient.connect({ socketPath, clientName: 'bystander' });
  t.after(() => other.close());
  const c = await raw(socketPath);
  const big = Buffer.alloc(10 * 1024 * 1024, 'a');
  c.send(big);
  const refusal = errorOf(await c.nth(1));
  assert.equal(refusal.data.kind, 'protocol');
  assert.match(refusal.message, /longer than 1048576 bytes; the connection is closed/);
  await c.closed;
  assert.equal((await other.call('settings.get')).retentionDays, 1);
});

test('the client refuses a socket not owned by root, unless a root test asks for its own socket', async (t) => {
  const { socketPath } = await startServer(t);
  chownSync(socketPath, 65534, 65534);
  await assert.rejects(
    HelperClient.connect({ socketPath, clientName: 'test' }),
    (error: PortcullisError) =>
      error.kind === 'unavailable' &&
      /owned by uid 65534, not root, so it may not be the Portcullis helper/.test(error.message),
  );
  const client = await HelperClient.connect({ socketPath, clientName: 'test', allowNonRootSocket: true });
  assert.equal(client.hello.version, '9.9.9');
  client.close();
});
