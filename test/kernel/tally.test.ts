// The kernel's tally of known flows (pcl_tally): a known app's allowed connects to one remote are
// recorded once per CPU and epoch and counted otherwise, with nothing lost or counted twice, on every
// CPU, across drains, and across a helper restart that finds counts waiting in the pinned map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Firewall } from '../../native/index.js';
import { decodeTallyRecords } from '../../native/tally-layout.js';
import type { AppBindings, TallyCount } from '../../native/api.js';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { eventually } from '../support/eventually.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, eventDecoding, finished } from './kernel-fixture.js';

const APP = 303;
const CONNECTS = 400;

/** A copy of python3 bound to APP: its processes are a known app from their exec. */
function knownApp(sandbox: Sandbox): { python: string; bindings: AppBindings } {
  const python = join(sandbox.makeTempDir('tally-app'), 'python3-tallied');
  copyFileSync(realpathSync('/usr/bin/python3'), python);
  const { dev, ino } = statSync(python, { bigint: true });
  return {
    python,
    bindings: { executables: [{ dev, ino, appId: APP }], paths: [], cgroups: [], processes: [], units: [] },
  };
}

/** A port nothing listens on: each connect is refused at once (SYN out, RST back), and still decided. */
function refusedPort(): number {
  return 20_000 + Math.floor(Math.random() * 20_000);
}

/** Runs CONNECTS connects to 127.0.0.1:port as the app, moving to the next CPU before each one. */
async function connectOnEveryCpu(sandbox: Sandbox, cgroup: string, python: string, port: number): Promise<void> {
  const code = `
import os, socket
cpus = sorted(os.sched_getaffinity(0))
for i in range(${CONNECTS}):
    os.sched_setaffinity(0, {cpus[i % len(cpus)]})
    s = socket.socket()
    try:
        s.connect(('127.0.0.1', ${port}))
    except ConnectionRefusedError:
        pass
    s.close()
`;
  const run = await finished(sandbox.spawnInCgroup(cgroup, [python, '-c', code]), 30_000);
  assert.equal(run.code, 0, run.stderr);
}

async function drained(firewall: Firewall, port: number): Promise<TallyCount[]> {
  return decodeTallyRecords(await firewall.drainTally(), eventDecoding).filter((t) => t.remotePort === port);
}

/** Connects the collector recorded for the app to the port. */
function recordedConnects(events: EventCollector, port: number): number {
  return events.events.filter((e) => e.kind === 'connect' && e.appId === APP && e.remotePort === port).length;
}

async function openFirewall(sandbox: Sandbox, cgroup: string, pinDir: string): Promise<Firewall> {
  const firewall = await Firewall.open({ cgroup, pinDir });
  sandbox.defer(() => firewall.close());
  return firewall;
}

/** A firewall on a fresh cgroup and bpffs with the app known, every flow allowed, tallying on. */
async function openTallying(sandbox: Sandbox) {
  const cgroup = sandbox.makeCgroup('tally');
  const pinDir = `${sandbox.makeBpffs()}/portcullis`;
  sandbox.defer(() => Firewall.detach(pinDir));
  const firewall = await openFirewall(sandbox, cgroup, pinDir);
  const { python, bindings } = knownApp(sandbox);
  await firewall.bindApps({ replace: true, add: bindings });
  await firewall.setRules([], allowByDefault);
  await firewall.drainTally(); // the first drain turns tallying on
  return { cgroup, pinDir, firewall, python };
}

test('every connect of a known flow is either recorded or tallied, exactly once, on every CPU', () =>
  withSandbox(async (sandbox) => {
    const { cgroup, firewall, python } = await openTallying(sandbox);
    const events = new EventCollector(firewall);
    sandbox.defer(() => events.stop());

    const port = refusedPort();
    // Drains while the app connects: counts of every epoch are taken, each once.
    let draining = true;
    const taken: TallyCount[] = [];
    const drainer = (async () => {
      while (draining) {
        taken.push(...(await drained(firewall, port)));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    await connectOnEveryCpu(sandbox, cgroup, python, port);
    draining = false;
    await drainer;
    taken.push(...(await drained(firewall, port)));

    const tallied = taken.reduce((sum, t) => sum + t.connections, 0);
    assert.ok(tallied > 0, 'connects of a known flow are tallied');
    for (const t of taken) {
      assert.equal(t.appId, APP);
      assert.equal(t.remoteAddr, '127.0.0.1');
      assert.equal(t.protocol, 'tcp');
    }
    // Every connect that was not tallied was recorded (the records may wait up to a pump interval).
    await eventually(
      () => recordedConnects(events, port) + tallied,
      (n) => n === CONNECTS,
      `${CONNECTS} connects, each recorded or tallied once`,
      { timeoutMs: 5000, describe: (n) => `${recordedConnects(events, port)} recorded + ${tallied} tallied = ${n}` },
    );
    assert.equal(events.drops, 0n);
  }));

test('counts waiting in the pinned tally when the helper stops are taken once by the next helper', () =>
  withSandbox(async (sandbox) => {
    const { cgroup, pinDir, firewall: first, python } = await openTallying(sandbox);

    // The app connects while this helper runs; it stops before its next drain.
    const port = refusedPort();
    await connectOnEveryCpu(sandbox, cgroup, python, port);
    await first.close();

    // The next helper adopts the pins: the ring still holds the records nobody read, the tally the rest.
    const next = await openFirewall(sandbox, cgroup, pinDir);
    const events = new EventCollector(next);
    sandbox.defer(() => events.stop());
    const taken = await drained(next, port);
    const tallied = taken.reduce((sum, t) => sum + t.connections, 0);
    assert.ok(tallied > 0, 'the waiting counts are taken');
    // No drain ran while the app connected: each tallied socket's close (its SYN out, the RST in) was
    // tallied with it, on the same CPU, in the same epoch.
    const packets = taken.reduce((sum, t) => [sum[0]! + t.packetsOut, sum[1]! + t.packetsIn], [0, 0]);
    assert.deepEqual(packets, [tallied, tallied], 'one packet each way per tallied connect');
    await eventually(
      () => recordedConnects(events, port) + tallied,
      (n) => n === CONNECTS,
      `${CONNECTS} connects, each recorded or tallied once`,
      { timeoutMs: 5000, describe: (n) => `${recordedConnects(events, port)} recorded + ${tallied} tallied = ${n}` },
    );
    // One record per CPU the flow was first seen on in the epoch, at most.
    assert.ok(recordedConnects(events, port) <= availableParallelism(), `${recordedConnects(events, port)} recorded`);

    // Taken once: a second drain finds nothing more of the flow, and tallying goes on after it.
    assert.deepEqual(await drained(next, port), []);
    await connectOnEveryCpu(sandbox, cgroup, python, port);
    const after = (await drained(next, port)).reduce((sum, t) => sum + t.connections, 0);
    await eventually(
      () => recordedConnects(events, port) + tallied + after,
      (n) => n === 2 * CONNECTS,
      `${2 * CONNECTS} connects after the restart, each recorded or tallied once`,
      { timeoutMs: 5000 },
    );
    assert.ok(after > 0, 'tallying goes on after the restart');
  }));
