// The cached fast path keeps a socket's state in the pcl_slots entry its cookie indexes (see
// struct pcl_slot). Real TCP flows in the test cgroup: the entry is owned while the flow is open,
// freed at close, and the totals that moved through it are exact, for a connecting socket and for
// an accepted one (which starts as a copy of its listener's storage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { withSandbox } from '../support/sandbox.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, finished, openFixture } from './kernel-fixture.js';

const SLOTS = 65536n; // PCL_SLOTS in bpf/portcullis.h

/** The owner cookie of the pcl_slots entry `cookie` indexes, read from the kernel with bpftool. */
function slotOwner(pinDir: string, cookie: bigint): bigint {
  const index = Number(cookie % SLOTS);
  const key = [0, 8, 16, 24].map((shift) => `0x${((index >> shift) & 0xff).toString(16)}`);
  const out = execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', `${pinDir}/maps/pcl_slots`, 'key', ...key], { encoding: 'utf8' });
  const value = (JSON.parse(out) as { value: string[] }).value;
  return value.slice(0, 8).reduceRight((owner, byte) => (owner << 8n) | BigInt(Number(byte)), 0n);
}

/** Resolves with the first line a child prints. */
function firstLine(child: ChildProcess, what: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no output within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.once('data', (d: Buffer) => {
      clearTimeout(timer);
      resolve(d.toString().trim());
    });
    child.once('exit', (code) => reject(new Error(`${what} exited early (${code})`)));
  });
}

const SENT = 300_000; // client to server
const ANSWERED = 70_001; // server to client

test('a TCP flow owns its fast-path entry while open, frees it at close, and its totals are exact (both ends in the cgroup)', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    fixture.firewall.setRules([], allowByDefault);

    const server = sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-u', '-c', `
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.21", 8090)); srv.listen(1)
print("ready", flush=True)
c, _ = srv.accept(); got = 0
while got < ${SENT}:
    d = c.recv(65536)
    if not d: break
    got += len(d)
c.sendall(b"r" * ${ANSWERED})
while c.recv(65536): pass
c.close(); srv.close()
`]);
    const serverDone = finished(server, 15_000);
    assert.equal(await firstLine(server, 'server'), 'ready');

    const client = sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-u', '-c', `
import socket, sys
s = socket.socket(); s.connect(("127.0.0.21", 8090)); s.sendall(b"s" * ${SENT}); got = 0
while got < ${ANSWERED}:
    d = s.recv(65536)
    if not d: break
    got += len(d)
print("open", flush=True)
sys.stdin.readline()
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
s.close()
`], { stdio: ['pipe', 'pipe', 'pipe'] });
    assert.equal(await firstLine(client, 'client'), 'open');

    const connect = await events.waitFor((e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.21' && e.remotePort === 8090, 'the client connect');
    const cookie = connect.socketCookie;
    assert.equal(slotOwner(fixture.pinDir, cookie), cookie, 'the open flow keeps its state in its own entry');

    const clientDone = finished(client, 15_000);
    client.stdin!.end('close\n');
    assert.equal((await clientDone).code, 0);
    assert.equal((await serverDone).code, 0);

    const clientClose = await events.waitFor((e) => e.kind === 'close' && e.socketCookie === cookie, 'the client close');
    assert.equal(clientClose.bytesOut, BigInt(SENT));
    assert.equal(clientClose.bytesIn, BigInt(ANSWERED));
    assert.notEqual(slotOwner(fixture.pinDir, cookie), cookie, 'the entry is freed at close');

    const serverClose = await events.waitFor(
      (e) => e.kind === 'close' && e.tgid === server.pid,
      'the accepted socket close',
    );
    assert.equal(serverClose.bytesIn, BigInt(SENT));
    assert.equal(serverClose.bytesOut, BigInt(ANSWERED));
    assert.notEqual(slotOwner(fixture.pinDir, serverClose.socketCookie), serverClose.socketCookie);
  });
});
