import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppTraffic } from '../../../../main/helper/flows/app-traffic.js';
import { FlowTracker } from '../../../../main/helper/flows/flow-tracker.js';
import type { TrackedEvent } from '../../../../main/helper/flows/flow-tracker.js';

const event = (over: Partial<TrackedEvent>): TrackedEvent => ({
  kind: 'connect',
  socketCookie: 0n,
  protocol: 'tcp',
  direction: 'out',
  localPort: 40000,
  remoteAddr: '192.0.2.1',
  remotePort: 443,
  verdict: 'allow',
  ruleId: 0,
  bytesOut: 0n,
  bytesIn: 0n,
  packetsOut: 0n,
  packetsIn: 0n,
  ...over,
});

test('per-app totals only grow: each taken delta adds once, and forgotten flows keep their share', () => {
  const tracker = new FlowTracker({ idleMs: 0 });
  const traffic = new AppTraffic();
  tracker.ingest(event({ socketCookie: 7n }), 3, 1000, null);
  tracker.ingest(event({ verdict: 'block', remoteAddr: '192.0.2.9' }), 3, 1000, null);
  tracker.ingest(
    event({ kind: 'close', socketCookie: 7n, bytesOut: 100n, bytesIn: 5000n, packetsOut: 2n, packetsIn: 4n }),
    3,
    1100,
    null,
  );
  tracker.ingest(event({ remoteAddr: '198.51.100.1' }), 0, 1100, null);
  traffic.add(tracker.takeDeltas());
  tracker.sweep(10_000); // idle, closed, written: the flows are forgotten from memory
  assert.equal(tracker.stats().flows, 0);
  tracker.ingest(event({ verdict: 'block' }), 3, 20_000, null);
  traffic.add(tracker.takeDeltas());
  traffic.add(tracker.takeDeltas()); // nothing new: adds nothing

  const byApp = new Map(traffic.list().map((app) => [app.appId, app]));
  assert.deepEqual(byApp.get(3), { appId: 3, bytesOut: 100, bytesIn: 5000, allowed: 1, blocked: 2 });
  assert.deepEqual(byApp.get(0), { appId: 0, bytesOut: 0, bytesIn: 0, allowed: 1, blocked: 0 });
  byApp.get(3)!.bytesIn = 0;
  assert.equal(traffic.list().find((app) => app.appId === 3)!.bytesIn, 5000, 'list() hands out copies');
});
