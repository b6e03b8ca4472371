// Ask mode's hold in the kernel, through the native facade alone: a connect no rule decides waits
// (neither succeeds nor fails), an allow releases it at once and a deny refuses it, an unanswered
// one fails at the hold's end, a UDP flow delivers nothing until allowed, decideFlows follows the
// rules, and a held socket's close takes its entry away. The sock_ops program holds need is
// attached only once a ruleset can hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { createSocket } from 'node:dgram';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { withSandbox } from '../support/sandbox.js';
import { parseIp } from '../../main/contract/net.js';
import type { KernelDefaults } from '../../native/api.js';
import { Firewall } from '../../native/index.js';
import { EventCollector } from './event-collector.js';
import { eventDecoding, openFixture, rule, type KernelFixture } from './kernel-fixture.js';
import { whenHeld } from '../support/hold-support.js';
import { countingListener } from '../support/counting-listener.js';
import { udpRounds, udpRoundsArgv } from '../support/udp-rounds.js';
import { PCL_SK_HELD } from '../../native/abi.js';
import { needsKfunc, slotEntry } from './slot-entries.js';
import { eventually, present } from '../support/eventually.js';

const askByDefault: KernelDefaults = { global: 'ask', perApp: new Map() };
/**
 * How long the kernel holds an unanswered connect here. Only the answer ends a hold sooner, so a
 * connect that completes inside it (measured from its own start, before the hold) was released by
 * the answer, whatever the machine's speed.
 */
const HOLD_MS = 20_000;

/** A TCP listener outside the cgroup (in this process) that writes `body` to each connection. */
async function listen(host: string, body = 'hello from the listener'): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end(body));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

// Connects (blocking, 60 s socket timeout) and reads the reply; prints one JSON line when done.
const CONNECT = `
import errno, json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(60)
t = time.monotonic()
print(json.dumps({"started": True}), flush=True)
try:
    s.connect((host, port))
    body = s.recv(100).decode()
    print(json.dumps({"outcome": "ok", "ms": (time.monotonic() - t) * 1000, "body": body, "peer": s.getpeername()[0]}), flush=True)
except OSError as e:
    print(json.dumps({"outcome": errno.errorcode.get(e.errno, str(e.errno)), "ms": (time.monotonic() - t) * 1000}), flush=True)
`;

interface Outcome {
  outcome: string;
  ms: number;
  body?: string;
  peer?: string;
}

/** A connect running in the cgroup; `done` resolves with its outcome line. */
function startConnect(
  fixture: KernelFixture,
  host: string,
  port: number,
): { child: ChildProcess; done: Promise<Outcome> } {
  const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, ['python3', '-c', CONNECT, host, String(port)]);
  let out = '';
  const done = new Promise<Outcome>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n').filter((line) => line.includes('outcome'));
      if (lines.length > 0) resolve(JSON.parse(lines[0]!) as Outcome);
    });
    child.once('exit', (code) => {
      if (!out.includes('outcome')) reject(new Error(`connect exited (${code}) without an outcome: ${out}`));
    });
  });
  return { child, done };
}

const settledWithin = <T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);

function heldFlows(fixture: KernelFixture, count: number) {
  return eventually(
    () => fixture.firewall.readHolds(eventDecoding),
    (flows) => flows.length >= count && flows.every((flow) => flow.ref.protocol === 'udp' || flow.dropped > 0),
    `${count} held flow(s) with their first packet dropped`,
    { everyMs: 20 },
  );
}

test(
  'held TCP connects (v4, v6) wait; allow completes and transfers the body inside the hold, deny refuses',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      await fixture.firewall.setRules([], askByDefault);
      await fixture.firewall.setAsk({ holdMs: HOLD_MS, helperTgid: 0 });
      const events = new EventCollector(fixture.firewall);
      sandbox.defer(() => events.stop());
      const v4 = await listen('127.0.0.1');
      const v6 = await listen('::1');
      sandbox.defer(() => new Promise<void>((resolve) => v4.server.close(() => resolve())));
      sandbox.defer(() => new Promise<void>((resolve) => v6.server.close(() => resolve())));

      const allowed = startConnect(fixture, '127.0.0.1', v4.port);
      const denied = startConnect(fixture, '::1', v6.port);
      const flows = await heldFlows(fixture, 2);
      const hold = await events.waitFor((e) => e.kind === 'hold' && e.remotePort === v4.port, 'hold v4');
      assert.equal(hold.remoteAddr, '127.0.0.1');
      assert.equal(hold.protocol, 'tcp');
      assert.equal(await settledWithin(allowed.done, 2000), 'pending', 'a held connect neither succeeds nor fails');
      assert.equal(await settledWithin(denied.done, 10), 'pending');

      const v4Flow = flows.find((flow) => flow.remotePort === v4.port)!;
      const v6Flow = flows.find((flow) => flow.remotePort === v6.port)!;
      assert.equal(v4Flow.remoteAddr, '127.0.0.1');
      assert.equal(v6Flow.remoteAddr, '::1');
      assert.equal(v4Flow.answer, null);

      assert.deepEqual(await fixture.firewall.answerHolds([{ ref: v4Flow.ref, verdict: 'allow' }]), ['sent']);
      const ok = await allowed.done;
      assert.equal(ok.outcome, 'ok');
      assert.equal(ok.body, 'hello from the listener');
      assert.equal(ok.peer, '127.0.0.1');
      assert.ok(ok.ms < HOLD_MS, `connected ${ok.ms} ms after it began: by the hold's end, not by the answer`);

      assert.deepEqual(await fixture.firewall.answerHolds([{ ref: v6Flow.ref, verdict: 'block' }]), ['sent']);
      const refused = await denied.done;
      // The answer's reset refuses it; the hold's end would time it out (ETIMEDOUT).
      assert.equal(refused.outcome, 'ECONNREFUSED');

      // Established: the hold's entry went with it; refused: it stays until the socket closes.
      const left = await fixture.firewall.readHolds(eventDecoding);
      assert.ok(!left.some((flow) => flow.remotePort === v4.port), 'the released connect left the hold map');
      await events.waitFor((e) => e.kind === 'unhold', 'unhold after the refused socket closed', 5000);
      await eventually(
        () => fixture.firewall.readHolds(eventDecoding),
        (flows) => flows.length === 0,
        'the hold map empty once the refused socket closed',
        { everyMs: 20 },
      );
    }),
  ),
);

// Where the fast path's entries are used, a new TCP socket's state is born in its entry and a held
// connect's stays there (never moved to storage): sock_ops, which gives the SYN the hold as its
// retransmission timeout and ends the hold at establishment, must find it there.
test(
  "a held connect's state lives in its fast-path entry, where sock_ops finds it: its SYN is not sent again while held, and the answer releases it",
  needsKfunc,
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      assert.equal(fixture.firewall.fastPath, 'entry');
      await fixture.firewall.setRules([], askByDefault);
      await fixture.firewall.setAsk({ holdMs: HOLD_MS, helperTgid: 0 });
      const events = new EventCollector(fixture.firewall);
      sandbox.defer(() => events.stop());
      const { server, port } = await listen('127.0.0.1');
      sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));

      const connect = startConnect(fixture, '127.0.0.1', port);
      const hold = await events.waitFor((e) => e.kind === 'hold' && e.remotePort === port, 'the hold');
      const cookie = hold.socketCookie;
      const held = slotEntry(fixture, cookie);
      assert.equal(held.owner, cookie, "the held socket's state is in its own entry, not in socket storage");
      assert.ok(held.flags & PCL_SK_HELD, 'marked held there');

      // Without the hold as its timeout (sock_ops not finding the state), the SYN goes again after 1 s.
      assert.equal(await settledWithin(connect.done, 2500), 'pending');
      const [flow] = await heldFlows(fixture, 1);
      assert.equal(flow!.dropped, 1, 'one SYN in 2.5 s: its retransmission waits for the hold');

      assert.deepEqual(await fixture.firewall.answerHolds([{ ref: flow!.ref, verdict: 'allow' }]), ['sent']);
      const released = await connect.done;
      assert.equal(released.outcome, 'ok');
      assert.ok(
        released.ms < HOLD_MS,
        `connected ${released.ms} ms after it began: by the hold's end, not by the answer`,
      );
      const established = slotEntry(fixture, cookie);
      assert.equal(established.owner, cookie, 'the state stays in its entry');
      assert.equal(established.flags & PCL_SK_HELD, 0, 'sock_ops ended the hold in the entry at establishment');
      assert.deepEqual(await fixture.firewall.readHolds(eventDecoding), [], 'the released connect left the hold map');
    }),
  ),
);

test(
  'an unanswered held connect fails at the end of the hold (ETIMEDOUT), never connected',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      await fixture.firewall.setRules([], askByDefault);
      await fixture.firewall.setAsk({ holdMs: 2000, helperTgid: 0 });
      const listener = await countingListener(sandbox);
      const connect = startConnect(fixture, '127.0.0.1', listener.port);
      const result = await connect.done;
      // ETIMEDOUT is the hold's end (the socket's own 60 s timeout would be python's "timed out",
      // a refusal ECONNREFUSED); and not before the hold was over.
      assert.equal(result.outcome, 'ETIMEDOUT');
      assert.ok(result.ms >= 1900, `failed ${result.ms} ms after it began, before the 2 s hold ended`);
      assert.equal(listener.accepted(), 0);
    }),
  ),
);

test('nobody to ask (hold time 0): an undecided connect is refused at once; rules still decide', () =>
  withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { server, port } = await listen('127.0.0.1');
    sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    await fixture.firewall.setRules([rule('allow', '127.0.0.1', { portLo: port, portHi: port })], askByDefault);
    await fixture.firewall.setAsk({ holdMs: 0, helperTgid: 0 });
    const refused = await startConnect(fixture, '127.0.0.2', port).done;
    assert.equal(refused.outcome, 'EPERM');
    const allowed = await startConnect(fixture, '127.0.0.1', port).done;
    assert.equal(allowed.outcome, 'ok');
  }));

test(
  'a held UDP flow delivers nothing and reports no error until allowed; then its datagrams arrive',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      await fixture.firewall.setRules([], askByDefault);
      await fixture.firewall.setAsk({ holdMs: HOLD_MS, helperTgid: 0 });
      const receiver = createSocket('udp4');
      const received: string[] = [];
      receiver.on('message', (message) => received.push(message.toString()));
      await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
      sandbox.defer(() => new Promise<void>((resolve) => receiver.close(() => resolve())));
      const sender = sandbox.spawnInCgroup(
        fixture.cgroup,
        udpRoundsArgv('python3', '127.0.0.1', receiver.address().port),
        { stdio: ['pipe', 'pipe', 'pipe'] },
      );
      const { round, end } = udpRounds(sender);

      assert.equal((await round('held')).errors, 0, 'send() reports no error while held');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(received, [], 'nothing delivered while held');
      const [flow] = await heldFlows(fixture, 1);
      assert.equal(flow!.ref.protocol, 'udp');
      assert.ok(flow!.dropped >= 5, `dropped ${flow!.dropped}`);

      assert.deepEqual(await fixture.firewall.answerHolds([{ ref: flow!.ref, verdict: 'allow' }]), ['recorded']);
      assert.equal((await round('allowed')).errors, 0);
      await eventually(
        () => received.length,
        (n) => n >= 5,
        'the datagrams sent after the allow',
      );
      assert.deepEqual(
        received.sort(),
        [0, 1, 2, 3, 4].map((i) => `allowed ${i}`),
      );
      end();
    }),
  ),
);

test("decideFlows answers as the hooks decide: a rule, an app default, a claimed app's block, or ask", () =>
  withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    await fixture.firewall.setRules(
      [rule('allow', '192.0.2.1', { portLo: 443, portHi: 443, protocol: 'tcp' }), rule('block', '2001:db8::/32')],
      { global: 'ask', perApp: new Map([[7, 'block']]) },
    );
    const bytes = (text: string) => {
      const ip = parseIp(text);
      if (!ip.ok) throw new Error(text);
      return ip.value.bytes;
    };
    const decisions = await fixture.firewall.decideFlows([
      { appId: 0, claimId: 0, family: 4, protocol: 'tcp', remote: bytes('192.0.2.1'), remotePort: 443 },
      { appId: 0, claimId: 0, family: 4, protocol: 'tcp', remote: bytes('192.0.2.1'), remotePort: 80 },
      { appId: 0, claimId: 0, family: 6, protocol: 'udp', remote: bytes('2001:db8::5'), remotePort: 53 },
      { appId: 7, claimId: 0, family: 4, protocol: 'udp', remote: bytes('198.51.100.1'), remotePort: 53 },
      // a unit's claim on app 7: its block default applies to what no rule of the owner decides
      { appId: 0, claimId: 7, family: 4, protocol: 'udp', remote: bytes('198.51.100.1'), remotePort: 53 },
    ]);
    assert.deepEqual(decisions, ['allow', 'ask', 'block', 'block', 'block']);
  }));

test(
  'a held connect in another network namespace (a container) is released in its own stack',
  whenHeld(() =>
    withSandbox(async (sandbox) => {
      const fixture = await openFixture(sandbox);
      await fixture.firewall.setRules([], askByDefault);
      await fixture.firewall.setAsk({ holdMs: HOLD_MS, helperTgid: 0 });
      const { netns } = sandbox.makeTestHost(1);
      const port = 20_000 + Math.floor(Math.random() * 20_000);
      const server = sandbox.spawnInNetns(netns, [
        'python3',
        '-c',
        `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", ${port})); s.listen()
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hello from the listener"); c.close()`,
      ]);
      await new Promise((resolve) => server.stdout!.once('data', resolve));
      const child = fixture.sandbox.spawnInCgroup(
        fixture.cgroup,
        ['python3', '-c', CONNECT, '127.0.0.1', String(port)],
        {
          netns,
        },
      );
      let out = '';
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const [flow] = await heldFlows(fixture, 1);
      assert.equal(out.includes('outcome'), false, 'held');
      assert.deepEqual(await fixture.firewall.answerHolds([{ ref: flow!.ref, verdict: 'allow' }]), ['sent']);
      const line = await eventually(
        () => out.split('\n').find((text) => text.includes('outcome')),
        present,
        "the connect's outcome after the allow",
        { timeoutMs: HOLD_MS + 10_000, describe: () => `none; it printed ${JSON.stringify(out)}` },
      );
      const result = JSON.parse(line) as Outcome;
      assert.equal(result.outcome, 'ok');
      assert.ok(result.ms < HOLD_MS, `connected ${result.ms} ms after it began: by the hold's end, not by the answer`);
      assert.equal(result.body, 'hello from the listener');
    }),
  ),
);

/** The programs attached to the fixture's cgroup, by attach type; sock_ops programs as 'sock_ops' (bpftool versions name it with or without "cgroup_"). */
function attachTypes(fixture: KernelFixture): string[] {
  const out = execFileSync('bpftool', ['-j', 'cgroup', 'show', fixture.cgroup], { encoding: 'utf8' });
  return (JSON.parse(out || '[]') as { attach_type: string }[]).map((program) =>
    program.attach_type.endsWith('sock_ops') ? 'sock_ops' : program.attach_type,
  );
}

test('the sock_ops program is attached once a ruleset can hold, before it applies, and a restarted firewall keeps it', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    await fixture.firewall.setRules([], { global: 'allow', perApp: new Map() });
    const before = attachTypes(fixture);
    assert.ok(
      before.some((type) => type.endsWith('inet4_connect')),
      `the firewall is attached: ${before.join(', ')}`,
    );
    assert.ok(!before.includes('sock_ops'), 'monitor mode runs no sock_ops program');
    await fixture.firewall.setRules([], askByDefault);
    assert.ok(attachTypes(fixture).includes('sock_ops'), 'ask mode attaches it');
    await fixture.firewall.setRules([], { global: 'allow', perApp: new Map() });
    await fixture.firewall.setRules([], askByDefault); // a second ask ruleset attaches nothing twice
    assert.equal(attachTypes(fixture).filter((type) => type === 'sock_ops').length, 1);

    fixture.programs.close();
    await fixture.firewall.close();
    const again = await Firewall.open({ cgroup: fixture.cgroup, pinDir: fixture.pinDir });
    sandbox.defer(() => again.close());
    assert.equal(again.adopted, true);
    await again.setRules([], askByDefault);
    assert.equal(
      attachTypes(fixture).filter((type) => type === 'sock_ops').length,
      1,
      'the adopted link is kept, not doubled',
    );
  });
});
