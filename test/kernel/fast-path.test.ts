// The cached fast path keeps a socket's state in the pcl_slots entry its cookie indexes (see
// struct pcl_slot), found with bpf_cast_to_kern_ctx (Linux 6.2+); without that kfunc it reads the
// socket's storage. Real TCP flows in the test cgroup, both ends in it: the entry is owned while a
// flow is open and marked done once its close is reported (then the next socket may take it), and
// the totals are exact for a connecting socket and for an accepted one (which starts as a copy of
// its listener's storage). With every entry taken, or in the socket-storage form (forced here on
// kernels that have the kfunc), nothing changes but the speed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import type { DecisionEvent, FirewallOptions } from '../../native/api.js';
import { Firewall } from '../../native/index.js';
import { PCL_CLOSE_DONE } from '../../native/abi.js';
import { visitFlowRecords } from '../../native/event-layout.js';
import { withSandbox } from '../support/sandbox.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, finished, openFixture, type KernelFixture } from './kernel-fixture.js';
import {
  giveEntryTo,
  hasKernCtxCast,
  needsKfunc,
  setEveryOwner,
  SLOTS,
  slotEntry,
  slotOwner,
  slotsSize,
} from './slot-entries.js';
import { eventually } from '../support/eventually.js';

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

/** Runs a Python script in the test cgroup to its end, which must be a success: answers its pid and output. */
async function runScript(fixture: KernelFixture, script: string): Promise<{ pid: number; stdout: string }> {
  const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-c', script]);
  const done = await finished(child, 15_000);
  assert.equal(done.code, 0, done.stderr);
  return { pid: child.pid!, stdout: done.stdout };
}

/** The close event of a socket of process `tgid`: the connecting one ('out') or an accepted one ('in'). */
function closeOf(events: EventCollector, tgid: number, direction: 'in' | 'out'): Promise<DecisionEvent> {
  return events.waitFor(
    (e) => e.kind === 'close' && e.tgid === tgid && e.direction === direction,
    `the ${direction === 'in' ? 'accepted' : 'connecting'} socket close of ${tgid}`,
  );
}

// A listener that never binds (listen() picks its port, and no bind hook runs): where TCP sockets get
// their state at first use, it gets its owner when it is asked its port (getsockname); where they get
// it at creation (the socket-storage form), from its creator. Either way the accepted socket starts as
// its copy (its owner, inbound).
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
      const run = await runScript(fixture, LISTEN_UNBOUND);
      const accepted = await closeOf(events, run.pid, 'in');
      assert.equal(accepted.comm, 'python3');
      assert.equal(accepted.bytesIn, 5000n);
      assert.equal(accepted.bytesOut, 700n);
    }, form);
  });
}

// A socket made by one process and first used by another (its fork child connects and sends). Where
// TCP sockets get their state at first use, the child owns it: the one that talks, and a blocked app
// handed a fresh socket by an allowed one gets its own verdict. Where they get it at creation, the
// parent does.
const HANDED_OVER = `
import os, socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.socket()
child = os.fork()
if child == 0:
    cli.connect(srv.getsockname()); cli.sendall(b"h" * 1200); cli.close(); os._exit(0)
cli.close()
conn, _ = srv.accept()
got = 0
while got < 1200:
    got += len(conn.recv(65536))
conn.close(); srv.close()
os.waitpid(child, 0)
print(child)
`;

for (const form of ['auto', 'socket-storage'] as const) {
  test(`a socket made by one process and first used by another is owned as its form says; its totals are exact (${form} form)`, async () => {
    await withFixture(async (fixture, events) => {
      const parent = await runScript(fixture, HANDED_OVER);
      const child = Number(parent.stdout.trim());
      const owner = fixture.firewall.fastPath === 'entry' ? child : parent.pid;
      const connecting = await events.waitFor(
        (e) => e.kind === 'close' && e.direction === 'out' && (e.tgid === child || e.tgid === parent.pid),
        'the connecting socket close',
      );
      assert.equal(
        connecting.tgid,
        owner,
        `owned by ${owner === child ? 'the child that connected' : 'the parent that made it'}`,
      );
      assert.equal(connecting.bytesOut, 1200n);
    }, form);
  });
}

// Bound to an address with no port (IP_BIND_ADDRESS_NO_PORT), then connected: the kernel picks the
// port at connect, and the socket has one state, whose close reports the exact totals once.
const BOUND_WITHOUT_PORT = `
import socket
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
cli = socket.socket(); cli.setsockopt(socket.IPPROTO_IP, 24, 1)  # IP_BIND_ADDRESS_NO_PORT
cli.bind(("127.0.0.1", 0)); cli.connect(srv.getsockname())
conn, _ = srv.accept()
cli.sendall(b"p" * 2100)
got = 0
while got < 2100:
    got += len(conn.recv(65536))
cli.close(); conn.close(); srv.close()
`;

test('a socket bound to an address with no port, then connected, has one state: one close with exact totals', async () => {
  await withFixture(async (fixture, events) => {
    const run = await runScript(fixture, BOUND_WITHOUT_PORT);
    const connecting = await closeOf(events, run.pid, 'out');
    assert.equal(connecting.bytesOut, 2100n);
    const accepted = await closeOf(events, run.pid, 'in');
    assert.equal(accepted.bytesIn, 2100n);
    const outbound = events.events.filter((e) => e.kind === 'close' && e.tgid === run.pid && e.direction === 'out');
    assert.equal(outbound.length, 1, 'one close for the connecting socket');
    // A bind hook run on the port-less bind would have made a second state, reported as a listen.
    const listens = events.events.filter((e) => e.kind === 'listen' && e.tgid === run.pid);
    assert.equal(listens.length, 1, "one listen, the server's: the port-less bind made no state");
  });
});

// One process, both ends in the cgroup. The client sends LATE_SENT bytes and closes: its FIN reports
// its close, and it waits in FIN-WAIT for its peer's end as a full socket (a FIN timeout past
// TIME-WAIT's 60 s: TCP_LINGER2), where packets still reach the cgroup hook. After a line on stdin
// the accepted socket sends it LATE bytes: a late packet of a closed socket, which it answers with a
// reset.
const LATE_SENT = 20_000;
const LATE = 1000;
const LATE_PACKET = `
import socket, sys, time
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.23", port)); srv.listen(1)
cli = socket.socket(); cli.setsockopt(socket.IPPROTO_TCP, socket.TCP_LINGER2, 120)
cli.connect(("127.0.0.23", port)); conn, _ = srv.accept()
cli.sendall(b"s" * ${LATE_SENT})
got = 0
while got < ${LATE_SENT}:
    d = conn.recv(65536)
    if not d: sys.exit("the client's data ended early")
    got += len(d)
cli.close()
if conn.recv(65536) != b"": sys.exit("no FIN from the client")
print("closed", flush=True)
sys.stdin.readline()
conn.sendall(b"l" * ${LATE})
# The reset closes the socket (TCP_CLOSE, 7: tcpi_state, TCP_INFO's first byte); recv() would only
# answer the end the FIN already gave.
for _ in range(200):
    if conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 7:
        print("reset", flush=True)
        break
    time.sleep(0.01)
else:
    print("no reset", flush=True)
conn.close(); srv.close()
`;

/**
 * Runs LATE_PACKET; `afterClose` runs with the client's cookie once its close is reported, before
 * the late packet. Answers the client's cookie and the events of both its sockets, once the
 * accepted socket's close (after the late packet) is in.
 */
async function latePacket(
  fixture: KernelFixture,
  events: EventCollector,
  port: number,
  afterClose: (clientCookie: bigint) => void,
): Promise<{ cookie: bigint; client: DecisionEvent[]; accepted: DecisionEvent }> {
  const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-u', '-c', LATE_PACKET, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const done = finished(child, 15_000);
  const connect = await events.waitFor(
    (e) => e.kind === 'connect' && e.tgid === child.pid && e.remotePort === port,
    'the client connect',
    10_000,
  );
  const cookie = connect.socketCookie;
  await events.waitFor((e) => e.kind === 'close' && e.socketCookie === cookie, 'the client close', 10_000);
  await eventually(
    () => out,
    (said) => said.includes('closed'),
    'the client closed',
    { everyMs: 10 },
  );
  assert.equal(out, 'closed\n', 'the client closed, its FIN arrived');
  afterClose(cookie);
  child.stdin!.end('late\n');
  const result = await done;
  assert.equal(result.code, 0, result.stderr);
  assert.equal(out, 'closed\nreset\n', 'the closed client got the late packet (and answered it with a reset)');
  const accepted = await events.waitFor(
    (e) => e.kind === 'close' && e.tgid === child.pid && e.direction === 'in',
    'the accepted socket close',
  );
  // Events arrive in the order they were made: the accepted socket's close came after the late packet.
  return { cookie, client: events.events.filter((e) => e.socketCookie === cookie), accepted };
}

function assertClientReportedOnce(cookie: bigint, client: DecisionEvent[], accepted: DecisionEvent): void {
  assert.deepEqual(
    client.map((e) => e.kind),
    ['connect', 'close'],
    'the closed client is reported once, and its late packet makes no new flow',
  );
  assert.equal(client[1]!.bytesOut, BigInt(LATE_SENT));
  assert.equal(client[1]!.bytesIn, 0n, 'its close was reported before the late packet');
  // The client's reset comes one sequence number past its FIN: that number is no byte.
  assert.equal(accepted.bytesIn, BigInt(LATE_SENT), 'the accepted socket received what the client sent');
  assert.equal(accepted.bytesOut, BigInt(LATE), 'the late packet left, counted on its sender');
  assert.notEqual(cookie, accepted.socketCookie);
}

test(
  "a late packet of a closed socket whose entry another socket has taken counts in nobody's totals, and no close is reported again",
  needsKfunc,
  async () => {
    await withFixture(async (fixture, events) => {
      // Control: while the entry is still the closed socket's (marked done), its late packet reaches
      // the hook as the socket's own and is counted in the state the entry keeps.
      const kept = await latePacket(fixture, events, 8095, (cookie) => {
        const entry = slotEntry(fixture, cookie);
        assert.equal(entry.owner, cookie, "the closed client's state is in its entry");
        assert.ok(entry.closeState & BigInt(PCL_CLOSE_DONE), 'marked done: another socket may take it');
      });
      assertClientReportedOnce(kept.cookie, kept.client, kept.accepted);
      const keptEntry = slotEntry(fixture, kept.cookie);
      assert.equal(keptEntry.owner, kept.cookie);
      assert.equal(keptEntry.bytesIn, BigInt(LATE), 'the late packet went through the hook on the closed socket');

      // The entry taken by another socket between the close and the late packet (its cookie: one no
      // socket has): the late packet finds no state of its socket (nor is storage made for it), so it
      // counts in neither the new owner's totals nor a new flow. The design allows at most that one
      // packet in the new owner's totals only when it read the entry during the take itself.
      const newOwner = 0xfffffffffffffffdn;
      const given = await latePacket(fixture, events, 8096, (cookie) => {
        assert.equal(slotOwner(fixture, cookie), cookie, "the closed client's state is in its entry");
        giveEntryTo(fixture, cookie, newOwner);
      });
      assertClientReportedOnce(given.cookie, given.client, given.accepted);
      const taken = slotEntry(fixture, given.cookie);
      assert.equal(taken.owner, newOwner, 'the entry stays the new owner');
      assert.deepEqual(
        [taken.bytesIn, taken.bytesOut, taken.packetsIn, taken.packetsOut],
        [0n, 0n, 0n, 0n],
        "the new owner's totals have nothing of the closed socket's",
      );
      const liveCookies: (number | bigint)[] = [];
      visitFlowRecords(await fixture.firewall.readFlows(), (cookie) => liveCookies.push(cookie));
      assert.ok(
        !liveCookies.some((cookie) => BigInt(cookie) === given.cookie),
        'no live flow record is made again for the closed socket',
      );
    });
  },
);
