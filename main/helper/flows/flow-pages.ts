// connections.page: a long connection list in pages. The first call runs the query once (after a
// flush, like connections.list, so it is exact) and keeps the result for the calling connection;
// later calls hand out the next pages from it. One query's cost however many pages, the first page
// out as soon as the query is done (the client paints it while the rest follows), and the pages one
// consistent picture: what changes meanwhile reaches the client through its polls and the live events.
import { randomBytes } from 'node:crypto';
import { PortcullisError, type Flow, type FlowPage } from '../../contract/index.js';
import type { FlowQuery } from './flows-store.js';

/** A result nobody asked for the next page of in this long is dropped. */
const IDLE_MS = 60_000;
/** Results kept per connection: a new list drops that connection's oldest beyond these. */
const PER_CONNECTION = 2;

interface Snapshot {
  owner: number;
  flows: Flow[];
  offset: number;
  expiresAt: number;
}

/** The RPC connection a page is asked on (its id, and a way to forget its results when it closes). */
export interface PageAsker {
  readonly id: number;
  onClose(listener: () => void): void;
}

export class FlowPages {
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly watched = new Set<number>();

  constructor(
    private readonly list: (query: FlowQuery) => Promise<Flow[]>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The query's first page; its cursor (when more follow) leads to the rest, for this connection only. */
  async first(asker: PageAsker, query: FlowQuery, pageSize: number): Promise<FlowPage> {
    this.expire();
    const flows = await this.list(query);
    if (flows.length <= pageSize) return { flows, total: flows.length, cursor: null };
    this.forgetOldest(asker.id);
    const cursor = randomBytes(12).toString('hex');
    this.snapshots.set(cursor, { owner: asker.id, flows, offset: 0, expiresAt: 0 });
    if (!this.watched.has(asker.id)) {
      this.watched.add(asker.id);
      asker.onClose(() => this.forgetConnection(asker.id));
    }
    return this.next(asker, cursor, pageSize);
  }

  /** The page after the one the cursor came with. */
  next(asker: PageAsker, cursor: string, pageSize: number): FlowPage {
    this.expire();
    const snapshot = this.snapshots.get(cursor);
    if (!snapshot || snapshot.owner !== asker.id)
      throw new PortcullisError(
        'not-found',
        'that page cursor is unknown or expired (results are kept for a minute between pages): list again from the first page',
        { where: 'params.cursor' },
      );
    const flows = snapshot.flows.slice(snapshot.offset, snapshot.offset + pageSize);
    snapshot.offset += flows.length;
    this.snapshots.delete(cursor);
    if (snapshot.offset >= snapshot.flows.length) return { flows, total: snapshot.flows.length, cursor: null };
    // A fresh cursor per page: a page asked twice (a retried request) cannot skip one.
    const nextCursor = randomBytes(12).toString('hex');
    snapshot.expiresAt = this.now() + IDLE_MS;
    this.snapshots.set(nextCursor, snapshot);
    return { flows, total: snapshot.flows.length, cursor: nextCursor };
  }

  /** Results held now (for tests and status). */
  get held(): number {
    return this.snapshots.size;
  }

  private expire(): void {
    const now = this.now();
    for (const [cursor, snapshot] of this.snapshots)
      if (snapshot.expiresAt !== 0 && snapshot.expiresAt < now) this.snapshots.delete(cursor);
  }

  private forgetOldest(owner: number): void {
    const mine = [...this.snapshots].filter(([, snapshot]) => snapshot.owner === owner);
    for (const [cursor] of mine.slice(0, Math.max(0, mine.length - PER_CONNECTION + 1))) this.snapshots.delete(cursor);
  }

  private forgetConnection(owner: number): void {
    this.watched.delete(owner);
    for (const [cursor, snapshot] of this.snapshots) if (snapshot.owner === owner) this.snapshots.delete(cursor);
  }
}
