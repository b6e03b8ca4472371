// A tallied socket (its connect counted in the kernel, never recorded: pcl_tally) that stays open
// with traffic: its bytes reach the connections list while it is open, from its live pcl_flows
// record, which names its flow; its close adds only the rest. Real kernel, real helper pipeline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { eventually } from '../support/eventually.js';
import {
  openRig,
  randomPort,
  settledTotals,
  startPeer,
  totalsFor,
  TRAFFIC_SCRIPT,
  within,
  type Rig,
} from './connections-rig.js';

const MB = 1024 * 1024;

interface Held {
  holding: { sent: number };
  /** Kernel events the pipeline processed from the start until the socket was held. */
  recordedUntilHeld: number;
  finish(): Promise<{ sent: number; received: number }>;
}

/** Runs the 'tcp-held' generator: a connection that records the flow, then a held one of `size` bytes. */
async function holdConnection(rig: Rig, port: number, size: number): Promise<Held> {
  const stopFile = join(rig.sandbox.makeTempDir('held'), 'stop');
  const before = rig.connections.pipeline.eventsProcessed;
  const child = rig.sandbox.spawnInCgroup(rig.cgroup, [
    rig.appExe,
    TRAFFIC_SCRIPT,
    'tcp-held',
    '127.0.0.1',
    String(port),
    String(size),
    stopFile,
  ]);
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const holding = await eventually(
    () => stdout.split('\n').find((line) => line.includes('"holding"')),
    (line): line is string => line !== undefined,
    'the generator holding its connection',
    { timeoutMs: 20_000, describe: () => stdout },
  );
  // The first connection's connect and close records have arrived once its bytes are counted.
  await eventually(
    () => rig.connections.pipeline.eventsProcessed - before,
    (n) => n >= 2,
    'the first connection recorded',
    { timeoutMs: 10_000 },
  );
  return {
    holding: JSON.parse(holding) as { sent: number },
    recordedUntilHeld: rig.connections.pipeline.eventsProcessed - before,
    async finish() {
      writeFileSync(stopFile, '');
      assert.equal(await exited, 0, `the generator failed: ${stdout}`);
      return JSON.parse(stdout.trim().split('\n').pop()!) as { sent: number; received: number };
    },
  };
}

test('a tallied connection that stays open is counted live from its socket record, and exactly once', () =>
  withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    /** A held connection to a fresh peer; the tally is on once the pipeline drained it (any list does). */
    const holdOnNewPort = async () => {
      const port = randomPort();
      await startPeer(rig, '127.0.0.1', port);
      await totalsFor(rig, rig.appId, '127.0.0.1', port, 'tcp');
      return { port, held: await holdConnection(rig, port, 16 * MB) };
    };
    let { port, held } = await holdOnNewPort();
    if (held.recordedUntilHeld > 2) {
      // The tally's epoch moved on between the two connects (a drain in a window of ~1 ms), so the
      // second was recorded as its epoch's first: once more, to another port.
      await held.finish();
      ({ port, held } = await holdOnNewPort());
    }
    assert.equal(held.recordedUntilHeld, 2, 'only the first connection was recorded (its connect and close)');

    // While open: the held socket's bytes are in the list, though its connect was never recorded (as
    // far as its live record says: refreshed every PCL_MIRROR_EVERY packets, up to 4 MB behind on
    // loopback's 64 KB segments; without the flow in that record nothing past the first connection).
    const open = await eventually(
      () => totalsFor(rig, rig.appId, '127.0.0.1', port, 'tcp'),
      (totals) => totals.bytesOut >= held.holding.sent / 2,
      'the held socket counted while open',
      { timeoutMs: 10_000, describe: (totals) => `${totals.bytesOut} of ${held.holding.sent} bytes out counted` },
    );
    assert.ok(open.bytesOut <= held.holding.sent, `${open.bytesOut} counted, more than the ${held.holding.sent} sent`);

    // Closed: the close record adds only what the live reads had not counted (no byte twice).
    const done = await held.finish();
    const closed = await settledTotals(
      rig,
      rig.appId,
      '127.0.0.1',
      port,
      'tcp',
      { out: done.sent, in: done.received },
      0.05,
    );
    assert.ok(
      within(closed.bytesOut, done.sent, 0.05),
      `counted ${closed.bytesOut} bytes out after the close; the generator sent ${done.sent}`,
    );
    assert.deepEqual(
      closed.flows.map((f) => [f.allowed, f.blocked]),
      [[2, 0]],
      'one flow, both connections counted',
    );
  }));
