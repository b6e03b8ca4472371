// The decision stream through the real helper: a blocked connect reaches a subscriber as a batched
// notification; a subscriber that stops reading is dropped and disconnected while the others keep
// receiving and the helper keeps answering; the lost events are counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeOne, SYSTEM_PYTHON } from '../support/connect-probe.js';
import type { ConnectionEvent } from '../../main/contract/index.js';
import { eventually, present } from '../support/eventually.js';

// Blocked connects (each one recorded: only allowed flows are tallied) at up to ~5k/s until the stop
// file appears; bounded.
const FLOOD_SCRIPT = `
import os, socket, sys, time
stop_file = sys.argv[1]
deadline = time.time() + 40
for i in range(200000):
    if i % 100 == 0:
        if os.path.exists(stop_file) or time.time() > deadline:
            break
        time.sleep(0.02)
    s = socket.socket()
    try:
        s.connect(('127.0.0.70', 9))
    except OSError:
        pass
    s.close()
`;

test('events: blocked connects arrive batched; a subscriber that stops reading is dropped, others keep going', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client('watcher');
    const batches: Array<{ at: number; events: ConnectionEvent[]; dropped: number }> = [];
    client.on('events', ({ events, dropped }) => batches.push({ at: Date.now(), events, dropped }));
    assert.deepEqual(await client.call('events.subscribe'), { subscribed: true });

    const rule = await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.70' } });
    assert.equal(await probeOne(sandbox, helper.paths.cgroup, '127.0.0.70', 9), 'EPERM');
    const seen = () => batches.flatMap((b) => b.events).find((e) => e.remoteAddr === '127.0.0.70');
    const event = await eventually(seen, present, 'the blocked connect event', {
      timeoutMs: 20_000,
      describe: () => `none; came: ${JSON.stringify(batches.flatMap((b) => b.events).slice(-10))}`,
    });
    assert.deepEqual(
      [event.verdict, event.ruleId, event.remotePort, event.protocol, event.direction],
      ['block', rule.id, 9, 'tcp', 'out'],
    );
    assert.ok(event.pid > 0 && event.comm.length > 0);
    assert.ok(Math.abs(event.time - Date.now()) < 60_000, 'event time is wall-clock time');

    // A subscriber that never reads.
    const stuck = createConnection(helper.paths.socket);
    stuck.on('error', () => {});
    await new Promise((resolve) => stuck.once('connect', resolve));
    stuck.write(
      '{"jsonrpc":"2.0","id":1,"method":"hello","params":{"protocol":1,"client":"stuck"}}\n{"jsonrpc":"2.0","id":2,"method":"events.subscribe"}\n',
    );
    let stuckReplies = '';
    await new Promise<void>((resolve) =>
      stuck.on('data', function first(chunk: Buffer) {
        stuckReplies += chunk.toString();
        if (stuckReplies.includes('"subscribed":true')) {
          stuck.off('data', first);
          stuck.pause();
          resolve();
        }
      }),
    );

    const stopFile = join(sandbox.makeTempDir('flood'), 'stop');
    const flood = sandbox.spawnInCgroup(helper.paths.cgroup, [SYSTEM_PYTHON, '-c', FLOOD_SCRIPT, stopFile]);
    const floodDone = new Promise<void>((resolve) => flood.once('close', () => resolve()));
    const firstFloodBatch = batches.length;
    await eventually(
      () => helper.logs,
      (logs) => /dropped slow event subscriber .*\(stuck\)/.test(logs),
      'the helper dropping the stuck subscriber',
      { timeoutMs: 45_000, describe: (logs) => `not logged; the log ends:\n${logs.slice(-2000)}` },
    );
    writeFileSync(stopFile, '');
    await floodDone;
    // Reading again, the stuck client finds its connection closed by the helper.
    const stuckClosed = new Promise<void>((resolve) => stuck.once('close', () => resolve()));
    stuck.on('data', () => {});
    stuck.resume();
    await stuckClosed;

    const status = await client.call('status');
    assert.equal(status.pid, helper.pid, 'the helper kept answering');
    assert.ok(status.eventDrops > 0, `events lost with the dropped subscriber are counted (${status.eventDrops})`);
    assert.match(helper.logs, /dropped slow event subscriber #\d+ uid 0 pid \d+ \(stuck\)/);
    assert.doesNotMatch(
      helper.logs,
      /dropped slow event subscriber .*\(watcher\)/,
      'the reading subscriber was not dropped',
    );
    const countAfter = batches.length;
    assert.ok(countAfter > firstFloodBatch, 'the reading subscriber kept receiving');
    // One notification per flush: never more often than every 50 ms (plus one for a partial interval).
    const during = batches.slice(firstFloodBatch);
    const span = during[during.length - 1]!.at - during[0]!.at;
    assert.ok(during.length <= span / 50 + 2, `${during.length} notifications in ${span} ms`);
    assert.ok(
      during.some((b) => b.events.length > 1),
      'events are batched',
    );
    stuck.destroy();
  }));
