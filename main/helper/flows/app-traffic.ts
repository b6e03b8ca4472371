// Per-app totals since the helper started, for the metrics endpoint: counters must only grow, and
// the flow tracker forgets idle flows, so the totals are summed from the deltas the pipeline takes
// (each change is in exactly one delta). One entry per app that had traffic: bounded by the apps.
import type { FlowDelta } from './flow-tracker.js';

export interface AppTotals {
  appId: number;
  bytesOut: number;
  bytesIn: number;
  /** Decisions that allowed / blocked a connection (or a datagram's first packet to a new peer). */
  allowed: number;
  blocked: number;
}

export class AppTraffic {
  private readonly totals = new Map<number, AppTotals>();

  add(deltas: readonly FlowDelta[]): void {
    for (const delta of deltas) {
      let app = this.totals.get(delta.appId);
      if (!app) {
        app = { appId: delta.appId, bytesOut: 0, bytesIn: 0, allowed: 0, blocked: 0 };
        this.totals.set(delta.appId, app);
      }
      app.bytesOut += delta.bytesOut;
      app.bytesIn += delta.bytesIn;
      app.allowed += delta.allowed;
      app.blocked += delta.blocked;
    }
  }

  /** Copies, so a caller's snapshot does not move under it. */
  list(): AppTotals[] {
    return [...this.totals.values()].map((app) => ({ ...app }));
  }
}
