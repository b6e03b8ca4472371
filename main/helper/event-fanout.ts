// Live decisions to subscribed clients, in batches.
//
// Pipeline (the seam for enrichment and flow aggregation):
//
//   native subscribe ─▶ connections pipeline (flows/connection-pipeline.ts: app identity, DNS names,
//   flow aggregation) ─▶ publish() ─▶ stage 1 ─▶ stage 2 … ─▶ batch ─▶ clients
//
// A stage is a plain function registered with addStage(): it receives each published batch in
// order and returns the events to pass on (it may annotate them — app identity, DNS names — record
// them into flows, or filter them). Stages run synchronously on the helper's main thread, so they
// must be cheap per event.
//
// Delivery: at most one "events" notification per client per flush interval (50 ms → ≤ 20/s), sent
// one interval after the first event waiting (no timer runs while nothing waits). A
// client whose socket backlog exceeds the bound is dropped from the fan-out and disconnected — it
// never slows the helper or the other clients. Every event that is not delivered is counted.
import type { ConnectionEvent, NotificationName, RpcNotifications } from '../contract/index.js';
import type { RpcConnection } from './rpc/connection.js';

export type EventStage = (events: ConnectionEvent[]) => ConnectionEvent[];

export interface FanoutOptions {
  flushIntervalMs?: number;
  /** Bytes queued for one client beyond which it is considered stuck. */
  maxBacklogBytes?: number;
  /** Events held for one flush beyond which new ones are dropped (and counted). */
  maxPendingEvents?: number;
  log(message: string): void;
}

export class EventFanout {
  private readonly stages: EventStage[] = [];
  private readonly subscribers = new Set<RpcConnection>();
  private pending: ConnectionEvent[] = [];
  /** Drops since the last batch went out; reported in the next batch. */
  private droppedSinceFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly flushIntervalMs: number;
  private readonly maxBacklogBytes: number;
  private readonly maxPendingEvents: number;

  eventsSeen = 0;
  /** Events lost in the kernel ring buffer, the pending queue, or with a dropped client. */
  eventsDropped = 0;
  /** Of those: lost because the pending queue was full, or with a client dropped for being slow. */
  queueDropped = 0;
  slowClientDropped = 0;
  clientsDropped = 0;

  constructor(private readonly options: FanoutOptions) {
    this.flushIntervalMs = options.flushIntervalMs ?? 50;
    // A few seconds of a busy stream: a live client drains far faster; a stuck one fills it.
    this.maxBacklogBytes = options.maxBacklogBytes ?? 4 * 1024 * 1024;
    this.maxPendingEvents = options.maxPendingEvents ?? 20_000;
  }

  addStage(stage: EventStage): void {
    this.stages.push(stage);
  }

  subscribe(connection: RpcConnection): void {
    if (this.subscribers.has(connection)) return;
    this.subscribers.add(connection);
    connection.onClose(() => this.subscribers.delete(connection));
    if (this.droppedSinceFlush > 0) this.scheduleFlush(); // the new subscriber hears of earlier losses
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Events the source lost before we saw them (ring buffer full). */
  noteDropped(count: number): void {
    if (count <= 0) return;
    this.eventsDropped += count;
    this.droppedSinceFlush += count;
    if (this.subscribers.size > 0) this.scheduleFlush();
  }

  publish(events: ConnectionEvent[]): void {
    this.eventsSeen += events.length;
    let passed = events;
    for (const stage of this.stages) passed = stage(passed);
    if (this.subscribers.size === 0 || passed.length === 0) return;
    const room = this.maxPendingEvents - this.pending.length;
    if (passed.length > room) {
      this.queueDropped += passed.length - Math.max(room, 0);
      this.noteDropped(passed.length - Math.max(room, 0));
      passed = passed.slice(0, Math.max(room, 0));
    }
    for (const event of passed) this.pending.push(event);
    this.scheduleFlush();
  }

  /** A notification to every subscriber at once (rules.changed, status.changed); stuck clients skipped. */
  broadcast<N extends Exclude<NotificationName, 'events'>>(method: N, params: RpcNotifications[N]): void {
    for (const connection of this.subscribers) {
      if (connection.backlogBytes <= this.maxBacklogBytes) connection.notify(method, params);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.subscribers.clear();
  }

  private scheduleFlush(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** Sends one batch to each subscriber; public so tests and shutdown can force it. */
  flush(): void {
    if (this.subscribers.size === 0) {
      this.pending = [];
      return;
    }
    if (this.pending.length === 0 && this.droppedSinceFlush === 0) return;
    const batch = { events: this.pending, dropped: this.droppedSinceFlush };
    this.pending = [];
    this.droppedSinceFlush = 0;
    for (const connection of this.subscribers) {
      if (!connection.isOpen) {
        this.subscribers.delete(connection);
        continue;
      }
      if (connection.backlogBytes > this.maxBacklogBytes) {
        this.subscribers.delete(connection);
        this.clientsDropped++;
        this.eventsDropped += batch.events.length;
        this.slowClientDropped += batch.events.length;
        this.options.log(
          `dropped slow event subscriber ${connection.describe()}: ${connection.backlogBytes} bytes unread`,
        );
        connection.destroy();
        continue;
      }
      connection.notify('events', batch);
    }
  }
}
