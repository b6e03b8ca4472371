// Event delivery: listens are reported, a burst larger than the ring buffer reports drops instead
// of hanging, and the subscription thread stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSandbox } from '../support/sandbox.js';
import { EventCollector } from './event-collector.js';
import { eventually } from '../support/eventually.js';
import { realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { kernelDev } from '../../native/app-bindings.js';
import { allowByDefault, eventDecoding, finished, openFixture, rule, runPython } from './kernel-fixture.js';

test('a burst larger than the ring buffer is counted as drops, then delivery resumes', async () => {
  await withSandbox(async (sandbox) => {
    // One page of ring buffer holds ~28 events.
    const fixture = await openFixture(sandbox, { ringBytes: 4096 });
    await fixture.firewall.setRules([rule('block', '127.0.0.7', { protocol: 'udp' })], allowByDefault);
    // 500 datagrams to 500 different ports: 500 decisions, with nobody reading yet.
    const burst = await runPython(
      fixture,
      `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
denied = 0
for port in range(20000, 20500):
    try: s.sendto(b"x", ("127.0.0.7", port))
    except PermissionError: denied += 1
print(denied)
`,
    );
    assert.equal(burst.stdout.trim(), '500', 'every datagram was denied, none hung');
    const counters = await fixture.firewall.readCounters();
    assert.ok(counters.eventDrops > 0n, 'the kernel counted drops');
    assert.ok(counters.blocked >= 500n);

    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    await events.waitFor((e) => e.kind === 'sendmsg', 'the events that fit');
    await eventually(
      () => events.drops,
      (drops) => drops === counters.eventDrops,
      `the subscriber told of the ${counters.eventDrops} lost`,
      { everyMs: 20 },
    );
    const delivered = events.events.filter((e) => e.kind === 'sendmsg' && e.remoteAddr === '127.0.0.7').length;
    assert.equal(BigInt(delivered) + events.drops, 500n, 'every decision was either delivered or counted as dropped');

    // Delivery goes on after the overflow.
    await runPython(
      fixture,
      `import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.8", 9))`,
    );
    await events.waitFor(
      (e) => e.kind === 'sendmsg' && e.remoteAddr === '127.0.0.8' && e.verdict === 'allow',
      'an event after the burst',
    );
  });
});

test('a listening socket is reported with its port and owner', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    await runPython(
      fixture,
      `import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); print(s.getsockname()[1])`,
    ).then(async (run) => {
      const port = Number(run.stdout.trim());
      const listen = await events.waitFor((e) => e.kind === 'listen' && e.localPort === port, `listen on ${port}`);
      assert.equal(listen.localAddr, '127.0.0.1');
      assert.equal(listen.comm, 'python3');
      assert.equal(listen.protocol, 'tcp');
    });
  });
});

test("a socket's owner is the task that made and used it: process, user, cgroup, name and executable", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    const python = realpathSync('/usr/bin/python3');
    const child = fixture.sandbox.spawnInCgroup(fixture.cgroup, [
      'setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      python,
      '-c',
      'import os, socket; print(os.getpid(), flush=True); socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.9", 9))',
    ]);
    const run = await finished(child);
    assert.equal(run.code, 0, run.stderr);
    const sent = await events.waitFor((e) => e.kind === 'sendmsg' && e.remoteAddr === '127.0.0.9', 'the datagram');
    assert.equal(sent.tgid, Number(run.stdout.trim()));
    assert.equal(sent.uid, 65534);
    assert.equal(sent.cgroupId, statSync(fixture.cgroup, { bigint: true }).ino);
    assert.equal(sent.comm, basename(python).slice(0, 15));
    const exe = statSync(python, { bigint: true });
    assert.deepEqual([sent.exe?.dev, sent.exe?.ino], [kernelDev(exe.dev), exe.ino]);
  });
});

test('subscriptions close cleanly and can be reopened', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall } = await openFixture(sandbox);
    for (let i = 0; i < 3; i++) {
      const sub = firewall.subscribe(() => undefined, eventDecoding);
      assert.throws(() => firewall.subscribe(() => undefined, eventDecoding), /already subscribed/);
      sub.close();
    }
  });
});
