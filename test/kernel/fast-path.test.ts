// The cached fast path keeps a socket's state in the pcl_slots entry its cookie indexes (see
// struct pcl_slot), found with bpf_cast_to_kern_ctx (Linux 6.2+); without that kfunc it reads the
// socket's storage. Real TCP flows in the test cgroup, both ends in it: the entry is owned while a
// flow is open and marked done once its close is reported (then the next socket may take it), and
// the totals are exact for a connecting socket and for an accepted one (which starts as a copy of
// its listener's storage). With every entry taken, or in the socket-storage form (forced here on
// kernels that have the kfunc), nothing changes but the speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DecisionEvent, FirewallOptions } from '../../native/api.js';
import { Firewall } from '../../native/index.js';
import { PCL_CLOSE_DONE, pcl_slot, pcl_sock } from '../../native/abi.js';
import { withSandbox } from '../support/sandbox.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, finished, openFixture, type KernelFixture } from './kernel-fixture.js';
import { kernelBtfHasFunc } from '../support/kernel-btf.js';

const SLOTS = 65536; // PCL_SLOTS in bpf/portcullis.h
const hasKernCtxCast = kernelBtfHasFunc('bpf_cast_to_kern_ctx');
const needsKfunc = hasKernCtxCast
  ? {}
  : { skip: 'the kernel lacks bpf_cast_to_kern_ctx (before 6.2): the fast path reads socket storage' };
const ENTRY_BYTES = pcl_slot.SIZE; // struct pcl_slot: owner, then struct pcl_sock

function slotsPin(fixture: KernelFixture): string {
  return `${fixture.pinDir}/maps/pcl_slots`;
}

/** pcl_slots' size as the kernel reports it. */
function slotsSize(fixture: KernelFixture): number {
  const out = execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', slotsPin(fixture)], { encoding: 'utf8' });
  return (JSON.parse(out) as { max_entries: number }).max_entries;
}

function keyBytes(index: number): string[] {
  return [0, 8, 16, 24].map((shift) => `0x${((index >> shift) & 0xff).toString(16)}`);
}

/** The pcl_slots entry `cookie` indexes, read from the kernel with bpftool: its owner cookie and its state's close_state. */
function slotEntry(fixture: KernelFixture, cookie: bigint): { owner: bigint; closeState: bigint } {
  const key = keyBytes(Number(cookie % BigInt(SLOTS)));
  const out = execFileSync('bpftool', ['-j', 'map', 'lookup', 'pinned', slotsPin(fixture), 'key', ...key], {
    encoding: 'utf8',
  });
  const value = (JSON.parse(out) as { value: string[] }).value;
  const u64At = (offset: number): bigint =>
    value.slice(offset, offset + 8).reduceRight((word, byte) => (word << 8n) | BigInt(Number(byte)), 0n);
  return { owner: u64At(pcl_slot.owner), closeState: u64At(pcl_slot.sock + pcl_sock.close_state) };
}

function slotOwner(fixture: KernelFixture, cookie: bigint): bigint {
  return slotEntry(fixture, cookie).owner;
}

/** Writes `owner` into every pcl_slots entry, its state zeroed but for `closeState`, in one bpftool batch. */
function setEveryOwner(fixture: KernelFixture, owner: bigint, closeState = 0n): void {
  const bytes = new Array<bigint>(ENTRY_BYTES).fill(0n);
  const putU64 = (offset: number, word: bigint) => {
    for (let i = 0; i < 8; i++) bytes[offset + i] = (word >> BigInt(8 * i)) & 0xffn;
  };
  putU64(pcl_slot.owner, owner);
  putU64(pcl_slot.sock + pcl_sock.close_state, closeState);
  const value = bytes.map((b) => `0x${b.toString(16)}`).join(' ');
  const lines = Array.from(
    { length: SLOTS },
    (_, i) => `map update pinned ${slotsPin(fixture)} key ${keyBytes(i).join(' ')} value ${value}`,
  );
  const batch = join(fixture.sandbox.makeTempDir('slots'), 'batch');
  writeFileSync(batch, `${lines.join('\n')}\n`);
  execFileSync('bpftool', ['batch', 'file', batch], { stdio: 'ignore' });
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

/**
 * A server and a client, both in the test cgroup, exchange SENT and ANSWERED bytes over loopback;
 * `whileOpen` runs with the client's socket cookie before either closes. Answers both close events.
 */
async function exchange(
  fixture: KernelFixture,
  events: EventCollector,
  port: number,
  whileOpen: (clientCookie: bigint) => void,
): Promise<{ client: DecisionEvent; server: DecisionEvent }> {
  const { sandbox, cgroup } = fixture;
  const server = sandbox.spawnInCgroup(cgroup, [
    'python3',
    '-u',
    '-c',
    `
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.21", ${port})); srv.listen(1)
print("ready", flush=True)
c, _ = srv.accept(); got = 0
while got < ${SENT}:
    d = c.recv(65536)
    if not d: break
    got += len(d)
c.sendall(b"r" * ${ANSWERED})
while c.recv(65536): pass
c.close(); srv.close()
`,
  ]);
  const serverDone = finished(server, 15_000);
  assert.equal(await firstLine(server, 'server'), 'ready');

  const client = sandbox.spawnInCgroup(
    cgroup,
    [
      'python3',
      '-u',
      '-c',
      `
import socket, sys
s = socket.socket(); s.connect(("127.0.0.21", ${port})); s.sendall(b"s" * ${SENT}); got = 0
while got < ${ANSWERED}:
    d = s.recv(65536)
    if not d: break
    got += len(d)
print("open", flush=True)
sys.stdin.readline()
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
s.close()
`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  assert.equal(await firstLine(client, 'client'), 'open');
  const connect = await events.waitFor((e) => e.kind === 'connect' && e.remotePort === port, 'the client connect');
  whileOpen(connect.socketCookie);

  const clientDone = finished(client, 15_000);
  client.stdin!.end('close\n');
  assert.equal((await clientDone).code, 0);
  assert.equal((await serverDone).code, 0);
  return {
    client: await events.waitFor(
      (e) => e.kind === 'close' && e.socketCookie === connect.socketCookie,
      'the client close',
    ),
    server: await events.waitFor((e) => e.kind === 'close' && e.tgid === server.pid, 'the accepted socket close'),
  };
}

function assertExactTotals({ client, server }: { client: DecisionEvent; server: DecisionEvent }): void {
  assert.equal(client.bytesOut, BigInt(SENT));
  assert.equal(client.bytesIn, BigInt(ANSWERED));
  assert.equal(server.bytesIn, BigInt(SENT));
  assert.equal(server.bytesOut, BigInt(ANSWERED));
}

async function withFixture(
  body: (fixture: KernelFixture, events: EventCollector) => Promise<void>,
  fastPath: FirewallOptions['fastPath'] = 'auto',
): Promise<void> {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox, { fastPath });
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    await fixture.firewall.setRules([], allowByDefault);
    await body(fixture, events);
  });
}

test(
  'a TCP flow owns its fast-path entry while open, gives it up once its close is reported, and its totals are exact',
  needsKfunc,
  async () => {
    await withFixture(async (fixture, events) => {
      assert.equal(fixture.firewall.fastPath, 'entry');
      assert.equal(slotsSize(fixture), SLOTS);
      const closes = await exchange(fixture, events, 8090, (cookie) => {
        assert.equal(slotOwner(fixture, cookie), cookie, 'the open flow keeps its state in its own entry');
      });
      assertExactTotals(closes);
      // The entry keeps the state for the peer's last packets, marked done: the next socket that indexes it takes it.
      for (const [cookie, whose] of [
        [closes.client.socketCookie, 'the connecting socket'],
        [closes.server.socketCookie, 'the accepted socket'],
      ] as const) {
        const entry = slotEntry(fixture, cookie);
        assert.ok(entry.owner === 0n || entry.owner === cookie, `${whose}'s entry is its own or free`);
        if (entry.owner === cookie)
          assert.ok(entry.closeState & BigInt(PCL_CLOSE_DONE), `${whose}'s entry is marked done`);
      }
    });
  },
);

test(
  'with every fast-path entry taken, sockets keep their state in socket storage: totals stay exact',
  needsKfunc,
  async () => {
    await withFixture(async (fixture, events) => {
      const taken = 0xfffffffffffffffen; // no socket's cookie
      setEveryOwner(fixture, taken);
      const closes = await exchange(fixture, events, 8091, (cookie) => {
        assert.equal(slotOwner(fixture, cookie), taken, 'the flow could not claim its entry');
      });
      assertExactTotals(closes);

      // Entries whose socket is done (its close reported) are taken by the next flows.
      setEveryOwner(fixture, taken, BigInt(PCL_CLOSE_DONE));
      assertExactTotals(
        await exchange(fixture, events, 8092, (cookie) => {
          assert.equal(slotOwner(fixture, cookie), cookie);
        }),
      );
    });
  },
);

test('in the socket-storage form no entry is made or taken, and totals are exact', async () => {
  await withFixture(async (fixture, events) => {
    assert.equal(fixture.firewall.fastPath, 'socket-storage');
    assert.equal(slotsSize(fixture), 1, 'pcl_slots is cut to one unused entry');
    const closes = await exchange(fixture, events, 8093, () => {
      assert.equal(slotOwner(fixture, 0n), 0n, 'the one entry stays free');
    });
    assertExactTotals(closes);
  }, 'socket-storage');
});

test('the fast path takes the entry form exactly where the kernel has the kfunc; adopted pins keep the form they were made with', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const made = fixture.firewall.fastPath;
    assert.equal(made, hasKernCtxCast ? 'entry' : 'socket-storage');
    fixture.programs.close();
    await fixture.firewall.close();
    const again = await Firewall.open({ cgroup: fixture.cgroup, pinDir: fixture.pinDir, fastPath: 'socket-storage' });
    sandbox.defer(() => again.close());
    assert.equal(again.adopted, true);
    assert.equal(again.fastPath, made, 'the pinned programs and maps decide');
  });
});

// One process, both ends in the cgroup: sends MARK once, then plays the segment that carried it into
// loopback again, three times (a packet socket sniffs it on the way, as a retransmission would
// repeat it). TCP drops the copies as old data; the cgroup hook sees them first.
const REPLAY = `
import socket, sys, time
port = int(sys.argv[1])
mark = b"count-me-once " * 100
sniff = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
sniff.bind(("lo", 0))
sniff.settimeout(5)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.22", port)); srv.listen(1)
cli = socket.socket(); cli.connect(("127.0.0.22", port)); conn, _ = srv.accept()
cli.sendall(mark)
got = b""
while len(got) < len(mark):
    got += conn.recv(65536)
frame = None
deadline = time.monotonic() + 5
while frame is None and time.monotonic() < deadline:
    data = sniff.recv(70000)
    if mark[:64] in data:
        frame = data
if frame is None:
    sys.exit("the data segment was not seen on loopback")
for _ in range(3):
    sniff.send(frame)
time.sleep(0.3)
cli.close(); conn.close(); srv.close()
print(len(mark), flush=True)
`;

test('a TCP segment received again (a retransmission of data already counted) adds no bytes received', async () => {
  await withFixture(async (fixture, events) => {
    const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-c', REPLAY, '8094']);
    const done = await finished(child, 15_000);
    assert.equal(done.code, 0, done.stderr);
    const sent = BigInt(done.stdout.trim());
    const accepted = await events.waitFor(
      (e) => e.kind === 'close' && e.tgid === child.pid && e.direction === 'in',
      'the accepted socket close',
    );
    assert.equal(accepted.bytesIn, sent, 'the three copies of the segment are not counted again');
    const connecting = await events.waitFor(
      (e) => e.kind === 'close' && e.tgid === child.pid && e.direction === 'out',
      'the connecting socket close',
    );
    assert.equal(connecting.bytesOut, sent);
  });
});

// A listener that never binds (listen() picks its port): its state was born in an entry and moves to
// storage at its first packet, so the accepted socket still starts as its copy (its owner, inbound).
const LISTEN_UNBOUND = `
import socket
srv = socket.socket(); srv.listen(1)
port = srv.getsockname()[1]
cli = socket.socket(); cli.connect(("127.0.0.1", port)); conn, _ = srv.accept()
cli.sendall(b"u" * 5000)
got = 0
while got < 5000:
    got += len(conn.recv(65536))
conn.sendall(b"d" * 700)
got = 0
while got < 700:
    got += len(cli.recv(65536))
cli.close(); conn.close(); srv.close()
`;

for (const form of ['auto', 'socket-storage'] as const) {
  test(`a listener that never bound still hands its owner to the sockets it accepts; their totals are exact (${form} form)`, async () => {
    await withFixture(async (fixture, events) => {
      const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-c', LISTEN_UNBOUND]);
      const done = await finished(child, 15_000);
      assert.equal(done.code, 0, done.stderr);
      const accepted = await events.waitFor(
        (e) => e.kind === 'close' && e.tgid === child.pid && e.direction === 'in',
        'the accepted socket close',
      );
      assert.equal(accepted.comm, 'python3');
      assert.equal(accepted.bytesIn, 5000n);
      assert.equal(accepted.bytesOut, 700n);
    }, form);
  });
}
