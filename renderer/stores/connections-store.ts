// Applications and their flows, live. Events are buffered and applied in one set at most every
// FLUSH_MS (on an animation frame), however fast they arrive: nobody reads a list that changes 60
// times a second, and each change costs a layout and paint of the visible rows. The history arrives
// in pages (the first paints at once, the rest follow while the list is in use; filters and sorts
// run over what has arrived, the whole set within moments). Flows are polled incrementally for byte
// counts, which feed the per-app traffic chart.
//
// The first rows are what the window shows first: the apps and the first page are asked for together
// as soon as the renderer starts (prefetch) and shown as soon as both have come, so that round trip
// overlaps the first render and the helper-state answer instead of following them.
import { create } from 'zustand';
import type { App, ConnectionEvent, Flow, FlowPage } from '../../main/contract/domain';
import type { IpcResult } from '../../main/contract/ipc';
import { bridge } from '../bridge';
import { applyEvent, hasFlow, placeholderApp, putFlow, type AppGroup } from '../model/flow-groups';
import { valueAsAdministrator, valueOr } from './notices-store';

export const POLL_MS = 2000;
/** Longest a live event waits before it shows. */
export const FLUSH_MS = 200;
/** Traffic points kept per app (at POLL_MS apart: the last ten minutes). */
export const TRAFFIC_POINTS = 300;
/**
 * Flows in the first page of the history (painted at once: enough to fill the window, small enough
 * to arrive and merge in a few ms), and in each page after it: small enough that reading and merging
 * one (a message of a few MB) keeps the list responsive, since the main thread is blocked meanwhile
 * (pages of 50,000 blocked it for over a second each on a busy machine).
 */
export const FIRST_PAGE = 500;
export const PAGE = 10_000;
/** The history's first page: of everything the helper keeps, up to its limit. */
const FIRST_PAGE_QUERY = { limit: 200_000, pageSize: FIRST_PAGE };

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
  /**
   * Asks for the apps and the history's first page and follows the live events from now on, before
   * the helper is known to be there; shows them (and loads the rest of the history) if both come,
   * else start() asks again.
   */
  prefetch(): void;
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

/** What prefetch() started: the live events followed, and whether the apps and first page came. */
interface Prefetched {
  shown: Promise<boolean>;
  stopEvents: () => void;
}
let prefetched: Prefetched | null = null;

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

  function putApps(list: App[]): void {
    const { apps } = get();
    for (const app of list) apps.set(app.id, app);
  }

  /**
   * The apps and the history's first page, asked for together (the first rows need both) and
   * applied in one update; then the rest of the history. `quiet`: answers that failed are no news
   * (the helper may not be there yet) and load nothing; returns whether both came.
   */
  async function loadAppsAndHistory(quiet = false): Promise<boolean> {
    set({ loading: true });
    const api = bridge();
    const startedAt = Date.now();
    const [apps, first] = await Promise.all([api.listApps({}), api.listConnectionsPage(FIRST_PAGE_QUERY)]);
    if (quiet && !(apps.ok && first.ok)) {
      set({ loading: false });
      return false;
    }
    const list = valueOr(apps, 'Loading applications');
    if (list) putApps(list);
    void loadHistory(first, startedAt);
    return true;
  }

  /**
   * The history from its first page on: that page merges and paints at once, the rest follow a frame
   * apart. `startedAt`: when the first page was asked for (polls go on from there).
   */
  async function loadHistory(first: IpcResult<FlowPage>, startedAt: number): Promise<void> {
    let page = valueOr(first, 'Loading connections');
    if (page) {
      lastPollAt = startedAt;
      mergeFlows(page.flows, false, true);
      set({ historyTotal: page.total, historyLoaded: page.flows.length });
      performance.mark('portcullis:first-page'); // in the page's timeline, for bench/ui.ts
    }
    set({ loading: false });
    const ask = (cursor: string) => bridge().listConnectionsPage({ cursor, pageSize: PAGE });
    let next: Promise<IpcResult<FlowPage>> | null = null;
    while (page?.cursor) {
      // A frame between pages: what arrived paints, and the list stays responsive while the rest loads.
      await new Promise<void>((resolve) => nextFrame(resolve));
      page = valueOr(await (next ?? ask(page.cursor)), 'Loading connections');
      if (!page) break;
      // The page after this one is made and sent while this one merges.
      next = page.cursor ? ask(page.cursor) : null;
      mergeFlows(page.flows, false, true);
      set((state) => ({ historyLoaded: state.historyLoaded + page!.flows.length }));
    }
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
      putApps(list);
      set((state) => ({ revision: state.revision + 1 }));
    },

    async loadFlows() {
      set({ loading: true });
      const startedAt = Date.now();
      await loadHistory(await bridge().listConnectionsPage(FIRST_PAGE_QUERY), startedAt);
    },

    prefetch() {
      if (prefetched) return;
      // Events first: one that happens after the history's first page is taken is then never missed.
      const stopEvents = bridge().listenEvents((batch) => get().ingest(batch));
      prefetched = { stopEvents, shown: loadAppsAndHistory(true) };
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
      const ahead = prefetched;
      prefetched = null;
      const stopEvents = ahead?.stopEvents ?? bridge().listenEvents((batch) => get().ingest(batch));
      if (!ahead) void loadAppsAndHistory();
      else void ahead.shown.then((shown) => shown || loadAppsAndHistory());
      const timer = setInterval(() => void get().poll(), POLL_MS);
      return () => {
        stopEvents();
        clearInterval(timer);
      };
    },

    reset() {
      prefetched?.stopEvents();
      prefetched = null;
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
