// The fan-out over a real unix socket: stages see every batch in order, publishes within one flush
// interval reach a subscriber as one notification, drops are reported in the next batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionEvent } from '../../../main/contract/index.js';
import { RpcServer } from '../../../main/helper/rpc/server.js';
import { EventFanout } from '../../../main/helper/event-fanout.js';
import { HelperClient } from '../../../main/client/helper-client.js';
import { eventually } from '../../support/eventually.js';

const event = (remotePort: number): ConnectionEvent => ({
  time: 1,
  appId: 1,
  pid: 2,
  uid: 0,
  comm: 'x',
  remoteAddr: '127.0.0.1',
  remoteName: null,
  remotePort,
  localPort: 5,
  protocol: 'tcp',
  direction: 'out',
  verdict: 'allow',
  ruleId: null,
});

test('stages, batching and drop counts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-fanout-'));
  const fanout = new EventFanout({ flushIntervalMs: 50, maxPendingEvents: 5, log: () => {} });
  const server = await RpcServer.listen({
    socketPath: join(dir, 'run', 's.sock'),
    handlers: {
      'events.subscribe': (_p, { connection }) => {
        fanout.subscribe(connection);
        return { subscribed: true as const };
      },
    },
    version: 'x',
    peerOf: () => ({ pid: process.pid, uid: 0, gid: 0 }),
    isAuthorized: () => true,
    log: () => {},
  });
  t.after(async () => {
    fanout.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const seenByStage: number[] = [];
  fanout.addStage((events) => {
    seenByStage.push(...events.map((e) => e.remotePort));
    return events.filter((e) => e.remotePort % 2 === 0);
  });
  fanout.addStage((events) => events.map((e) => ({ ...e, remoteName: `port-${e.remotePort}` })));

  const client = await HelperClient.connect({ socketPath: join(dir, 'run', 's.sock'), clientName: 'test' });
  t.after(() => client.close());
  const batches: Array<{ events: ConnectionEvent[]; dropped: number }> = [];
  client.on('events', (batch) => batches.push(batch));
  await client.call('events.subscribe');

  fanout.publish([event(1), event(2)]);
  fanout.publish([event(3), event(4)]);
  fanout.noteDropped(7);
  await eventually(
    () => batches.length,
    (n) => n >= 1,
    'the first notification',
    { everyMs: 10 },
  );
  assert.deepEqual(seenByStage, [1, 2, 3, 4], 'every event passes the first stage in order');
  assert.equal(batches.length, 1, 'two publishes in one interval: one notification');
  assert.deepEqual(
    batches[0]!.events.map((e) => [e.remotePort, e.remoteName]),
    [
      [2, 'port-2'],
      [4, 'port-4'],
    ],
  );
  assert.equal(batches[0]!.dropped, 7);

  // More than the pending bound within one interval: the excess is dropped and reported.
  fanout.publish([2, 4, 6, 8, 10, 12, 14, 16].map(event));
  await eventually(
    () => batches.length,
    (n) => n >= 2,
    'the second notification',
    { everyMs: 10 },
  );
  assert.equal(batches[1]!.events.length, 5);
  assert.equal(batches[1]!.dropped, 3);
  assert.equal(fanout.eventsSeen, 12);
  assert.equal(fanout.eventsDropped, 10);
});
