import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { FlowTracker, type TrackedEvent } from '../../../../main/helper/flows/flow-tracker.js';
import { FlowsStore, flowsMigration, HOUR_MS } from '../../../../main/helper/flows/flows-store.js';
import { FLOW_RECORD_BYTES } from '../../../../native/event-layout.js';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR_MS); // on an hour boundary

type TestEvent = TrackedEvent & { appId: number; timeMs: number; remoteName: string | null };

function event(over: Partial<TestEvent>): TestEvent {
  return {
    kind: 'connect',
    timeMs: T0,
    appId: 1,
    socketCookie: 0n,
    protocol: 'tcp',
    direction: 'out',
    localPort: 40000,
    remoteAddr: '10.0.0.1',
    remotePort: 443,
    remoteName: null,
    verdict: 'allow',
    ruleId: 0,
    bytesOut: 0n,
    bytesIn: 0n,
    packetsOut: 0n,
    packetsIn: 0n,
    ...over,
  };
}

function feed(tracker: FlowTracker, over: Partial<TestEvent>): void {
  const e = event(over);
  tracker.ingest(e, e.appId, e.timeMs, e.remoteName);
}

test('flows: decisions aggregate per app × remote × port × protocol × direction', () => {
  const tracker = new FlowTracker();
  feed(tracker, { socketCookie: 1n });
  feed(tracker, { socketCookie: 2n, timeMs: T0 + 5, remoteName: 'a.test' });
  feed(tracker, { verdict: 'block', ruleId: 9, timeMs: T0 + 7 });
  feed(tracker, { remotePort: 80, timeMs: T0 + 8 });
  feed(tracker, { appId: 2, timeMs: T0 + 9 });
  feed(tracker, { protocol: 'udp', timeMs: T0 + 10 });
  const live = tracker.live();
  assert.equal(live.length, 4);
  const main = live.find((f) => f.appId === 1 && f.remotePort === 443 && f.protocol === 'tcp')!;
  assert.deepEqual(
    [main.allowed, main.blocked, main.firstSeen, main.lastSeen, main.lastVerdict, main.lastRuleId, main.remoteName],
    [2, 1, T0, T0 + 7, 'block', 9, 'a.test'],
  );
  assert.equal(tracker.stats().sockets, 2, 'only allowed sockets are tracked for bytes');
});

test('flows: live totals and the close event add up without double counting', () => {
  const tracker = new FlowTracker();
  feed(tracker, { socketCookie: 7n });
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 100n, bytesIn: 1000n, packetsOut: 2n, packetsIn: 3n }], T0 + 1000);
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 150n, bytesIn: 1000n, packetsOut: 3n, packetsIn: 3n }], T0 + 2000);
  tracker.applyTotals([{ socketCookie: 99n, bytesOut: 5n, bytesIn: 5n, packetsOut: 1n, packetsIn: 1n }], T0 + 2000); // unknown socket: ignored
  feed(tracker, {
    kind: 'close',
    socketCookie: 7n,
    timeMs: T0 + 3000,
    bytesOut: 200n,
    bytesIn: 4000n,
    packetsOut: 4n,
    packetsIn: 6n,
  });
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 999n, bytesIn: 999n, packetsOut: 9n, packetsIn: 9n }], T0 + 4000); // after close: ignored
  const [flow] = tracker.live();
  assert.deepEqual(
    [flow!.bytesOut, flow!.bytesIn, flow!.packetsOut, flow!.packetsIn, flow!.lastSeen],
    [200, 4000, 4, 6, T0 + 3000],
  );
  assert.equal(tracker.stats().sockets, 0);
});

test("flows: an older copy of a socket's totals (smaller than one counted before) adds nothing", () => {
  // The kernel mirrors totals from the CPUs of both directions, so a read may see bytes in go
  // back for a moment; the close event may lack a packet counted into a live copy just before.
  const tracker = new FlowTracker();
  feed(tracker, { socketCookie: 7n });
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 100n, bytesIn: 700n, packetsOut: 2n, packetsIn: 5n }], T0 + 1000);
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 300n, bytesIn: 600n, packetsOut: 4n, packetsIn: 4n }], T0 + 2000);
  tracker.applyTotals([{ socketCookie: 7n, bytesOut: 300n, bytesIn: 900n, packetsOut: 4n, packetsIn: 7n }], T0 + 3000);
  feed(tracker, {
    kind: 'close',
    socketCookie: 7n,
    timeMs: T0 + 4000,
    bytesOut: 400n,
    bytesIn: 899n,
    packetsOut: 5n,
    packetsIn: 7n,
  });
  const [flow] = tracker.live();
  assert.deepEqual([flow!.bytesOut, flow!.bytesIn, flow!.packetsOut, flow!.packetsIn], [400, 900, 5, 7]);
});

test('flows: live totals from raw kernel records count like decoded ones', () => {
  const tracker = new FlowTracker();
  feed(tracker, { socketCookie: 7n });
  feed(tracker, { socketCookie: 2n ** 60n, remotePort: 80 });
  const records = (bytesOut: bigint) => {
    const b = Buffer.alloc(3 * FLOW_RECORD_BYTES);
    [7n, 2n ** 60n, 99n].forEach((cookie, i) => {
      b.writeBigUInt64LE(cookie, i * FLOW_RECORD_BYTES);
      b.writeBigUInt64LE(bytesOut, i * FLOW_RECORD_BYTES + 8);
      b.writeBigUInt64LE(3n, i * FLOW_RECORD_BYTES + 24);
    });
    return b;
  };
  tracker.applyTotalRecords(records(100n), T0 + 1000);
  tracker.applyTotalRecords(records(150n), T0 + 2000);
  const flows = tracker.live();
  assert.deepEqual(
    flows.map((f) => [f.remotePort, f.bytesOut, f.packetsOut, f.lastSeen]).sort(),
    [
      [443, 150, 3, T0 + 2000],
      [80, 150, 3, T0 + 2000],
    ].sort(),
  );
  feed(tracker, { kind: 'close', socketCookie: 7n, bytesOut: 170n, packetsOut: 4n, timeMs: T0 + 3000 });
  assert.equal(tracker.live().find((f) => f.remotePort === 443)!.bytesOut, 170);
  assert.equal(tracker.stats().sockets, 1, 'the other socket is still open');
});

test('flows: a close without its opening decision still counts; inbound goes to the listener', () => {
  const tracker = new FlowTracker();
  feed(tracker, { kind: 'close', socketCookie: 5n, bytesOut: 10n, bytesIn: 20n, packetsOut: 1n, packetsIn: 1n });
  feed(tracker, { kind: 'listen', appId: 4, protocol: 'tcp', localPort: 8080, remoteAddr: '0.0.0.0', remotePort: 0 });
  feed(tracker, {
    appId: 0,
    direction: 'in',
    localPort: 8080,
    remoteAddr: '10.0.0.9',
    remotePort: 51000,
    socketCookie: 6n,
  });
  feed(tracker, { appId: 0, direction: 'in', localPort: 9999, remoteAddr: '10.0.0.9', remotePort: 51001 });
  const flows = tracker.live();
  assert.ok(flows.some((f) => f.appId === 1 && f.bytesIn === 20));
  assert.ok(flows.some((f) => f.appId === 4 && f.direction === 'in' && f.remoteAddr === '10.0.0.9'));
  assert.equal(tracker.stats().unattributedInbound, 1);
});

test('flows: deltas are taken once; memory stays bounded and idle written flows are forgotten', () => {
  const tracker = new FlowTracker({ maxFlows: 100, idleMs: 1000 });
  for (let i = 0; i < 100; i++) feed(tracker, { remotePort: 1 + i });
  assert.equal(tracker.takeDeltas().length, 100);
  assert.equal(tracker.takeDeltas().length, 0);
  for (let i = 0; i < 50; i++) feed(tracker, { remotePort: 1000 + i, timeMs: T0 + 1 });
  assert.ok(tracker.stats().flows <= 100);
  assert.ok(tracker.stats().evicted >= 10);
  tracker.takeDeltas();
  tracker.sweep(T0 + 5000);
  assert.equal(tracker.stats().flows, 0);
});

test("flows: a forgotten flow's slot starts from zero; flows with an open socket are never evicted", () => {
  const tracker = new FlowTracker({ maxFlows: 20, idleMs: 1000 });
  feed(tracker, { remotePort: 1, socketCookie: 0n, verdict: 'block', ruleId: 4 });
  feed(tracker, {
    kind: 'close',
    remotePort: 1,
    socketCookie: 3n,
    bytesOut: 70n,
    bytesIn: 80n,
    packetsOut: 1n,
    packetsIn: 1n,
  });
  tracker.takeDeltas();
  tracker.sweep(T0 + 5000);
  assert.equal(tracker.stats().flows, 0);
  feed(tracker, { remotePort: 2, timeMs: T0 + 6000, remoteAddr: '10.0.0.2' });
  const [fresh] = tracker.live();
  assert.deepEqual(
    [
      fresh!.remotePort,
      fresh!.allowed,
      fresh!.blocked,
      fresh!.bytesOut,
      fresh!.bytesIn,
      fresh!.lastRuleId,
      fresh!.firstSeen,
    ],
    [2, 1, 0, 0, 0, null, T0 + 6000],
  );
  assert.deepEqual(
    tracker.takeDeltas().map((d) => [d.remotePort, d.allowed, d.bytesOut, d.firstSeen]),
    [[2, 1, 0, T0 + 6000]],
  );

  // A flow with an open socket survives eviction, and the socket's later bytes still reach it.
  feed(tracker, { remotePort: 443, socketCookie: 11n, timeMs: T0 });
  tracker.takeDeltas();
  for (let i = 0; i < 40; i++) {
    feed(tracker, { remotePort: 1000 + i, timeMs: T0 + 7000 + i });
    tracker.takeDeltas();
  }
  assert.ok(tracker.stats().evicted > 0);
  tracker.applyTotals([{ socketCookie: 11n, bytesOut: 5n, bytesIn: 6n, packetsOut: 1n, packetsIn: 1n }], T0 + 9000);
  const kept = tracker.live().find((f) => f.remotePort === 443)!;
  assert.deepEqual([kept.bytesOut, kept.bytesIn, kept.allowed], [5, 6, 1]);
  assert.deepEqual(
    tracker.takeDeltas().map((d) => [d.remotePort, d.bytesOut, d.bytesIn, d.allowed]),
    [[443, 5, 6, 0]],
  );
});

test('flows: thousands of flows and sockets (columns grow) keep their own counts', () => {
  const tracker = new FlowTracker();
  for (let i = 0; i < 5000; i++)
    feed(tracker, { remotePort: 1 + (i % 2500), remoteAddr: `10.0.${i >> 8}.${i & 255}`, socketCookie: BigInt(i + 1) });
  const totals = Array.from({ length: 5000 }, (_, i) => ({
    socketCookie: BigInt(i + 1),
    bytesOut: BigInt(i),
    bytesIn: 1n,
    packetsOut: 1n,
    packetsIn: 1n,
  }));
  tracker.applyTotals(totals, T0 + 1);
  const flows = tracker.live();
  assert.equal(flows.length, 5000);
  for (const flow of flows) {
    const i = Number(flow.remoteAddr.split('.')[2]) * 256 + Number(flow.remoteAddr.split('.')[3]);
    assert.deepEqual([flow.remotePort, flow.bytesOut, flow.bytesIn, flow.allowed], [1 + (i % 2500), i, 1, 1]);
  }
  assert.equal(tracker.stats().sockets, 5000);
  assert.equal(
    tracker.takeDeltas().reduce((sum, d) => sum + d.bytesOut, 0),
    (4999 * 5000) / 2,
  );
  // The next interval (delta rows emptied and shrunk after the burst): only what grew since.
  tracker.applyTotals(
    totals.map((t, i) => ({ ...t, bytesOut: t.bytesOut + BigInt(i % 3) })),
    T0 + 2,
  );
  const next = tracker.takeDeltas();
  assert.equal(next.length, 3333);
  assert.equal(
    next.reduce((sum, d) => sum + d.bytesOut, 0),
    1667 + 2 * 1666,
  );
  assert.ok(next.every((d) => d.allowed === 0 && d.firstSeen === T0 + 2));
});

function memoryStore(): FlowsStore {
  const db = new Database(':memory:');
  flowsMigration.up(db);
  return new FlowsStore(db);
}

test('flows store: batched deltas add up per hour; queries by app, remote, time and verdict', () => {
  const store = memoryStore();
  const tracker = new FlowTracker();
  feed(tracker, { socketCookie: 1n, remoteName: 'www.example.com' });
  tracker.applyTotals([{ socketCookie: 1n, bytesOut: 10n, bytesIn: 100n, packetsOut: 1n, packetsIn: 2n }], T0 + 10);
  store.write(tracker.takeDeltas());
  tracker.applyTotals(
    [{ socketCookie: 1n, bytesOut: 30n, bytesIn: 300n, packetsOut: 2n, packetsIn: 4n }],
    T0 + HOUR_MS + 10,
  );
  feed(tracker, { appId: 2, remoteAddr: '10.9.9.9', verdict: 'block', ruleId: 3, timeMs: T0 + HOUR_MS + 20 });
  store.write(tracker.takeDeltas());

  const all = store.query();
  assert.equal(all.length, 2);
  assert.equal(all[0]!.appId, 2, 'most recently seen first');
  const web = all[1]!;
  assert.deepEqual(
    [
      web.bytesOut,
      web.bytesIn,
      web.packetsOut,
      web.packetsIn,
      web.firstSeen,
      web.lastSeen,
      web.remoteName,
      web.allowed,
    ],
    [30, 300, 2, 4, T0, T0 + HOUR_MS + 10, 'www.example.com', 1],
  );
  // The live view and the stored history agree.
  const liveWeb = tracker.live().find((f) => f.appId === 1)!;
  assert.deepEqual([liveWeb.bytesOut, liveWeb.bytesIn, liveWeb.allowed], [web.bytesOut, web.bytesIn, web.allowed]);

  assert.deepEqual(
    store.query({ app: 2 }).map((f) => f.remoteAddr),
    ['10.9.9.9'],
  );
  assert.deepEqual(
    store.query({ verdict: 'block' }).map((f) => [f.appId, f.lastRuleId]),
    [[2, 3]],
  );
  assert.deepEqual(
    store.query({ verdict: 'allow' }).map((f) => f.appId),
    [1],
  );
  assert.deepEqual(
    store.query({ remote: 'example.com' }).map((f) => f.appId),
    [1],
  );
  assert.deepEqual(
    store.query({ remote: '10.9.9.9' }).map((f) => f.appId),
    [2],
  );
  assert.deepEqual(store.query({ remote: 'ample.com' }), []);
  assert.deepEqual(
    store.query({ since: T0 + HOUR_MS + 15 }).map((f) => f.appId),
    [2],
  );
  assert.deepEqual(
    store.query({ until: T0 + 5 }).map((f) => f.appId),
    [1],
  );
  assert.equal(store.query({ limit: 1 }).length, 1);

  assert.equal(store.prune(1, T0 + 86_400_000 + HOUR_MS + 15), 2, 'rows last seen over a day before go');
  assert.deepEqual(
    store.query().map((f) => f.appId),
    [2],
  );
});
