// The helper's path from kernel decisions to what people see: each batch from the ring buffer is
// given its app (AppIdentities) and remote name (DnsNames, taught by DnsObserver from the DNS
// events in the same batches), aggregated into flows (FlowTracker)
// and turned into ConnectionEvents for the live stream. A timer reads live socket totals and
// writes the flows' changes to SQLite in one transaction; listing flushes first, so the stored
// history and the live picture agree.
import type { ConnectionEvent, Flow } from '../../contract/index.js';
import type { DecisionEvent, TallyCount, TalliedFlow } from '../../../native/api.js';
import { monotonicToWallMs } from '../decision-events.js';
import type { AppIdentities } from '../apps/app-identities.js';
import type { DnsNames } from '../dns/dns-names.js';
import type { DnsObserver } from '../dns/dns-observer.js';
import type { FlowDelta, FlowTracker } from './flow-tracker.js';
import type { FlowQuery, FlowsStore } from './flows-store.js';
import type { AppTraffic } from './app-traffic.js';

export interface ConnectionPipelineDeps {
  identities: AppIdentities;
  names: DnsNames;
  dns: DnsObserver;
  tracker: FlowTracker;
  store: FlowsStore;
  /** Live per-socket totals from the kernel as raw pcl_flows records (read off the JS thread); absent when the addon cannot read them. */
  readTotalRecords?: () => Promise<Buffer>;
  /** A tallied socket's flow from its record in what readTotalRecords read (at a record's offset), else null. */
  tallyFlowOf?: (records: Buffer, at: number) => TalliedFlow | null;
  /** What the kernel tallied (counted instead of recording) since the last drain; absent without a kernel. */
  drainTally?: () => Promise<TallyCount[]>;
  retentionDays: () => number;
  /** Sums every change taken per app (the metrics endpoint's counters). */
  appTraffic?: AppTraffic;
  log(message: string): void;
}

export interface PipelineTimers {
  /** How often live socket totals are read and the flows' changes taken for writing. */
  flushMs: number;
  /** How often a slice of the taken changes is written. */
  writeSliceMs: number;
  /** Rows per slice: bounds how long one write holds the event loop (events wait meanwhile). */
  rowsPerSlice: number;
}

// A take reads live totals only when due (see readTotals).
const DEFAULT_TIMERS: PipelineTimers = { flushMs: 2000, writeSliceMs: 100, rowsPerSlice: 2000 };
/** The timer's live-totals reads are spaced by this many times what the last read took. */
const TOTALS_READ_SPACING = 50;
const SWEEP_NAMES_MS = 60_000;
const PRUNE_MS = 3_600_000;

export class ConnectionPipeline {
  private timers: NodeJS.Timeout[] = [];
  private writeTimer: NodeJS.Timeout | null = null;
  /** When the timer next reads live totals (ms since epoch). */
  private totalsDueAt = 0;
  /** The timer's take in flight (the next tick skips while one runs). */
  private taking: Promise<void> | null = null;
  /** A drain found tallied flows: their sockets' live totals may be worth reading with none known. */
  private tallying = false;
  private unwritten: FlowDelta[] = [];
  eventsProcessed = 0;
  /** Flow rows written to the history so far. */
  rowsWritten = 0;

  constructor(private readonly deps: ConnectionPipelineDeps) {}

  /** One kernel batch: returns the decisions for the live stream (listens and closes feed flows only). */
  process(batch: readonly DecisionEvent[]): ConnectionEvent[] {
    const { identities, names, tracker } = this.deps;
    const nowWallMs = Date.now();
    const nowMonoNs = process.hrtime.bigint();
    const out: ConnectionEvent[] = [];
    for (const event of batch) {
      if (event.kind === 'dns' || event.kind === 'dns-query') {
        this.deps.dns.observe(event, nowWallMs);
        continue;
      }
      if (event.kind === 'hold' || event.kind === 'unhold') continue; // ask mode's (ask/ask-service.ts)
      const timeMs = Math.round(monotonicToWallMs(event.timeNs, nowWallMs, nowMonoNs));
      let appId = identities.appIdOf(event);
      if (appId === 0 && event.direction === 'in') appId = tracker.listenerApp(event.protocol, event.localPort);
      const remoteName = event.kind === 'listen' ? null : names.nameOf(event.remoteAddr, nowWallMs);
      tracker.ingest(event, appId, timeMs, remoteName);
      if (event.kind === 'listen' || event.kind === 'close') continue;
      out.push({
        time: timeMs,
        appId,
        pid: event.tgid,
        uid: event.uid,
        comm: event.comm,
        remoteAddr: event.remoteAddr,
        remoteName,
        remotePort: event.remotePort,
        localPort: event.localPort,
        protocol: event.protocol,
        direction: event.direction,
        verdict: event.verdict,
        ruleId: event.ruleId === 0 ? null : event.ruleId,
      });
    }
    this.eventsProcessed += batch.length;
    return out;
  }

  /**
   * Reads live totals (when `fresh`, or when due) and takes what changed for writing (deltas are
   * per flow, so a backlog stays bounded by the flows).
   */
  private async take(nowMs: number, fresh: boolean): Promise<void> {
    if (fresh || nowMs >= this.totalsDueAt) await this.readTotals(nowMs);
    await this.drainTally();
    const deltas = this.deps.tracker.takeDeltas();
    this.deps.appTraffic?.add(deltas);
    for (const delta of deltas) this.unwritten.push(delta);
    this.deps.tracker.sweep(nowMs);
  }

  /**
   * Reading walks the kernel's whole socket map (two syscalls a socket, on a pool thread): only
   * while some socket is counted, and spaced so that it takes at most ~1/TOTALS_READ_SPACING of a
   * core on the timer (with 100k sockets, one read every several seconds). Queries always read
   * first, so they stay exact. Events processed while a read runs are safe to apply it after: the
   * tracker counts only sockets it still holds, and never less than it has counted.
   */
  private async readTotals(nowMs: number): Promise<void> {
    const { readTotalRecords, tallyFlowOf, tracker } = this.deps;
    if (!readTotalRecords || !(tracker.hasOpenSockets || this.tallying)) return;
    const started = performance.now();
    tracker.beginTotalsRead();
    try {
      const records = await readTotalRecords();
      tracker.applyTotalRecords(records, nowMs, tallyFlowOf && ((at) => tallyFlowOf(records, at)));
    } finally {
      tracker.endTotalsRead();
    }
    this.totalsDueAt = nowMs + (performance.now() - started) * TOTALS_READ_SPACING;
  }

  /** Adds what the kernel tallied since the last drain to the flows, each at the time of its last count. */
  private async drainTally(): Promise<void> {
    const { drainTally, names, tracker } = this.deps;
    if (!drainTally) return;
    const tallies = await drainTally();
    if (tallies.length === 0) return;
    this.tallying = true;
    const nowWallMs = Date.now();
    const nowMonoNs = process.hrtime.bigint();
    for (const tally of tallies) {
      const timeMs = Math.round(monotonicToWallMs(tally.lastNs, nowWallMs, nowMonoNs));
      tracker.ingestTally(tally, timeMs, names.nameOf(tally.remoteAddr, nowWallMs));
    }
  }

  /** Writes the backlog a slice per `writeSliceMs` (a timer runs only while there is one). */
  private writeBacklog(timers: PipelineTimers): void {
    if (this.writeTimer || this.unwritten.length === 0) return;
    this.writeTimer = setTimeout(() => {
      this.writeTimer = null;
      try {
        this.writeSlice(timers.rowsPerSlice);
      } catch (error) {
        this.deps.log(`writing flows failed: ${(error as Error).message}`);
      }
      this.writeBacklog(timers);
    }, timers.writeSliceMs);
    this.writeTimer.unref();
  }

  /** Writes up to `rows` taken changes in one transaction. */
  private writeSlice(rows: number): void {
    if (this.unwritten.length === 0) return;
    const slice = this.unwritten.length <= rows ? this.unwritten : this.unwritten.slice(0, rows);
    this.unwritten = slice === this.unwritten ? [] : this.unwritten.slice(rows);
    this.deps.store.write(slice);
    this.rowsWritten += slice.length;
  }

  /** Changes taken but not yet written (the timers write them in slices). */
  get backlog(): number {
    return this.unwritten.length;
  }

  /** Reads live totals and writes everything that changed; every query does this first. */
  async flush(nowMs = Date.now()): Promise<void> {
    await this.take(nowMs, true);
    this.writeSlice(Number.MAX_SAFE_INTEGER);
  }

  async list(query: FlowQuery): Promise<Flow[]> {
    await this.flush();
    return this.deps.store.query(query);
  }

  start(timers: PipelineTimers = DEFAULT_TIMERS): void {
    const every = (ms: number, step: () => void, what: string) => {
      const timer = setInterval(() => {
        try {
          step();
        } catch (error) {
          this.deps.log(`${what} failed: ${(error as Error).message}`);
        }
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(
      timers.flushMs,
      () => {
        if (this.taking) return;
        this.taking = this.take(Date.now(), false)
          .then(() => this.writeBacklog(timers))
          .catch((error: Error) => this.deps.log(`taking flow changes failed: ${error.message}`))
          .finally(() => {
            this.taking = null;
          });
      },
      'taking flow changes',
    );
    every(SWEEP_NAMES_MS, () => this.deps.names.sweep(Date.now()), 'sweeping DNS names');
    const prune = () => this.deps.store.prune(this.deps.retentionDays(), Date.now());
    try {
      prune();
    } catch (error) {
      this.deps.log(`pruning flow history failed: ${(error as Error).message}`);
    }
    every(PRUNE_MS, prune, 'pruning flow history');
  }

  /** Stops the timers and writes what is pending. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    await this.taking;
    if (this.writeTimer) clearTimeout(this.writeTimer);
    this.writeTimer = null;
    try {
      await this.flush();
    } catch (error) {
      this.deps.log(`writing flows at stop failed: ${(error as Error).message}`);
    }
  }
}
