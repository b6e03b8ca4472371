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

const self = { pid: process.pid, uid: 0, gid: 0 };

async function startServer(
  t: { after(fn: () => Promise<void> | void): void },
  options: { authorized?: boolean; handlers?: HandlerTable } = {},
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
