// Applications and their flows, live. Events are buffered and applied in one set at most every
// FLUSH_MS (on an animation frame), however fast they arrive: nobody reads a list that changes 60
// times a second, and each change costs a layout and paint of the visible rows. The history arrives
// in pages (the first paints at once, the rest follow while the list is in use; filters and sorts
// run over what has arrived, the whole set within moments). Flows are polled incrementally for byte
// counts, which feed the per-app traffic chart.
import { create } from 'zustand';
import type { App, ConnectionEvent, Flow } from '../../main/contract/domain';
import { bridge } from '../bridge';
import { applyEvent, hasFlow, placeholderApp, putFlow, type AppGroup } from '../model/flow-groups';
import { valueAsAdministrator, valueOr } from './notices-store';

export const POLL_MS = 2000;
/** Longest a live event waits before it shows. */
export const FLUSH_MS = 200;
/** Traffic points kept per app (at POLL_MS apart: the last ten minutes). */
export const TRAFFIC_POINTS = 300;
/**
 * Flows in the first page of the history (painted at once), and in each page after it: few later
 * pages, since the rows are rebuilt over everything loaded after each.
 */
export const FIRST_PAGE = 2000;
export const PAGE = 50_000;

export interface TrafficPoint {
  time: number;
  bytesIn: number;
  bytesOut: number;
}

interface ConnectionsStore {
  apps: Map<number, App>;
  groups: Map<number, AppGroup>;
  traffic: Map<number, TrafficPoint[]>;
  /** Bumped whenever apps, groups or traffic change in place. */
  revision: number;
  flowCount: number;
  /** Flows in the history being loaded, and how many of them have arrived (equal once all have). */
  historyTotal: number;
  historyLoaded: number;
  /** Events lost before they reached us (kernel ring buffer or fan-out), as the helper reported. */
  dropped: number;
  loading: boolean;
  loadApps(): Promise<void>;
  loadFlows(): Promise<void>;
  poll(): Promise<void>;
  setAppDefault(appId: number, action: 'allow' | 'block' | null): Promise<void>;
  ingest(batch: { events: ConnectionEvent[]; dropped: number }): void;
  /** Loads everything and follows the live stream; returns the stop function. */
  start(): () => void;
  reset(): void;
}

let pending: ConnectionEvent[] = [];
let pendingDropped = 0;
let flushScheduled = false;
let lastPollAt = 0;
let appsReloadTimer: ReturnType<typeof setTimeout> | null = null;

const nextFrame = (run: () => void): void => {
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(run);
  else setTimeout(run, 16);
};
let lastFlushAt = 0;
/** The next flush: on a frame, and no sooner than FLUSH_MS after the previous one. */
const scheduleFlush = (run: () => void): void => {
  const wait = Math.max(0, lastFlushAt + FLUSH_MS - Date.now());
  if (wait === 0) nextFrame(run);
  else setTimeout(() => nextFrame(run), wait);
};

function countFlows(groups: Map<number, AppGroup>): number {
  let count = 0;
  for (const group of groups.values()) count += group.flows.size;
  return count;
}

export const useConnections = create<ConnectionsStore>((set, get) => {
  function flush(): void {
    flushScheduled = false;
    lastFlushAt = Date.now();
    const events = pending;
    pending = [];
    const { apps, groups } = get();
    let unknownApp = false;
    for (const event of events) {
      if (!apps.has(event.appId)) {
        apps.set(event.appId, placeholderApp(event.appId, event.comm, event.time));
        unknownApp = true;
      }
      applyEvent(groups, event);
    }
    if (unknownApp) scheduleAppsReload();
    set((state) => ({
      revision: state.revision + 1,
      flowCount: countFlows(groups),
      dropped: state.dropped + pendingDropped,
    }));
    pendingDropped = 0;
  }

  function scheduleAppsReload(): void {
    if (appsReloadTimer) return;
    appsReloadTimer = setTimeout(() => {
      appsReloadTimer = null;
      void get().loadApps();
    }, 1000);
  }

  /**
   * `fromHistory`: flows of a page of the history taken when loading began; a flow already here came
   * since from a poll or an event (newer), and is kept.
   */
  function mergeFlows(flows: Flow[], recordTraffic: boolean, fromHistory = false): void {
    const { groups, traffic } = get();
    const perApp = new Map<number, TrafficPoint>();
    const now = Date.now();
    for (const flow of flows) {
      if (fromHistory && hasFlow(groups, flow)) continue;
      const delta = putFlow(groups, flow);
      if (!recordTraffic || (delta.bytesIn <= 0 && delta.bytesOut <= 0)) continue;
      const point = perApp.get(flow.appId) ?? { time: now, bytesIn: 0, bytesOut: 0 };
      point.bytesIn += Math.max(0, delta.bytesIn);
      point.bytesOut += Math.max(0, delta.bytesOut);
      perApp.set(flow.appId, point);
    }
    for (const [appId, point] of perApp) {
      const series = traffic.get(appId) ?? [];
      series.push(point);
      if (series.length > TRAFFIC_POINTS) series.splice(0, series.length - TRAFFIC_POINTS);
      traffic.set(appId, series);
    }
    set((state) => ({ revision: state.revision + 1, flowCount: countFlows(groups) }));
  }

  return {
    apps: new Map(),
    groups: new Map(),
    traffic: new Map(),
    revision: 0,
    flowCount: 0,
    historyTotal: 0,
    historyLoaded: 0,
    dropped: 0,
    loading: false,

    async loadApps() {
      const list = valueOr(await bridge().listApps({}), 'Loading applications');
      if (!list) return;
      const { apps } = get();
      for (const app of list) apps.set(app.id, app);
      set((state) => ({ revision: state.revision + 1 }));
    },

    async loadFlows() {
      set({ loading: true });
      const startedAt = Date.now();
      let page = valueOr(
        await bridge().listConnectionsPage({ limit: 200_000, pageSize: FIRST_PAGE }),
        'Loading connections',
      );
      if (page) {
        lastPollAt = startedAt;
        mergeFlows(page.flows, false, true);
        set({ historyTotal: page.total, historyLoaded: page.flows.length });
      }
      set({ loading: false });
      while (page?.cursor) {
        // A frame between pages: what arrived paints, and the list stays responsive while the rest loads.
        await new Promise<void>((resolve) => nextFrame(resolve));
        page = valueOr(
          await bridge().listConnectionsPage({ cursor: page.cursor, pageSize: PAGE }),
          'Loading connections',
        );
        if (!page) break;
        mergeFlows(page.flows, false, true);
        set((state) => ({ historyLoaded: state.historyLoaded + page!.flows.length }));
      }
    },

    async poll() {
      const startedAt = Date.now();
      // A little overlap, so a flow updated while the previous poll ran is not missed.
      const since = Math.max(0, lastPollAt - POLL_MS);
      const result = await bridge().listConnections({ since, limit: 200_000 });
      if (!result.ok) return; // the helper state banner says why; polling resumes when it is back
      lastPollAt = startedAt;
      mergeFlows(result.value, true);
    },

    async setAppDefault(appId, action) {
      const app = await valueAsAdministrator(
        () => bridge().setAppDefault({ appId, action }),
        'Changing the app default',
      );
      if (!app) return;
      get().apps.set(app.id, app);
      set((state) => ({ revision: state.revision + 1 }));
    },

    ingest(batch) {
      pending.push(...batch.events);
      pendingDropped += batch.dropped;
      if (!flushScheduled) {
        flushScheduled = true;
        scheduleFlush(flush);
      }
    },

    start() {
      const api = bridge();
      const stopEvents = api.listenEvents((batch) => get().ingest(batch));
      void get()
        .loadApps()
        .then(() => get().loadFlows());
      const timer = setInterval(() => void get().poll(), POLL_MS);
      return () => {
        stopEvents();
        clearInterval(timer);
      };
    },

    reset() {
      pending = [];
      pendingDropped = 0;
      lastPollAt = 0;
      lastFlushAt = 0;
      set({
        apps: new Map(),
        groups: new Map(),
        traffic: new Map(),
        revision: 0,
        flowCount: 0,
        historyTotal: 0,
        historyLoaded: 0,
        dropped: 0,
        loading: false,
      });
    },
  };
});
