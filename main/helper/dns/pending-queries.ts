// The DNS queries sockets sent that no answer has matched yet. An answer counts only when it
// matches one exactly — the same socket, the server it was sent to (address and port), the id and
// the question — and then consumes it, so each query is answered once. Bounded whatever arrives:
// entries expire after a few seconds, each socket keeps only its newest, and when the table is
// full the oldest go first.
import type { DnsQuestion } from './dns-message.js';

/** One side of a DNS exchange, as the kernel reported it. */
export interface DnsExchange {
  /** Cookie of the socket that sent the query (and must receive the answer). */
  socket: bigint;
  /** The server: the query's destination, the answer's source. */
  server: string;
  serverPort: number;
  /** The message id (transaction id). */
  id: number;
  question: DnsQuestion;
}

export interface PendingQueryLimits {
  /** Queries remembered in all. */
  capacity: number;
  /** Queries remembered per socket (a resolver forwarding for others has many outstanding). */
  perSocket: number;
  /** How long a query waits for its answer (stub resolvers give up after about 5 s). */
  lifetimeMs: number;
}

export const DEFAULT_PENDING_LIMITS: PendingQueryLimits = { capacity: 8192, perSocket: 256, lifetimeMs: 15_000 };

interface Pending {
  socket: string;
  expiresAt: number;
}

function keyOf(exchange: DnsExchange): string {
  const { name, type, class: klass } = exchange.question;
  // The name goes last: it is the only part that could hold a space (escaped as \032, but even so).
  return `${exchange.socket} ${exchange.server} ${exchange.serverPort} ${exchange.id} ${type} ${klass} ${name}`;
}

export class PendingQueries {
  /** Pending queries by key, in the order they were sent (a re-sent query moves to the end). */
  private readonly entries = new Map<string, Pending>();
  /** Each socket's keys, oldest first. */
  private readonly bySocket = new Map<string, Set<string>>();
  private readonly limits: PendingQueryLimits;

  constructor(limits: Partial<PendingQueryLimits> = {}) {
    this.limits = { ...DEFAULT_PENDING_LIMITS, ...limits };
  }

  get size(): number {
    return this.entries.size;
  }

  /** True when `socket` has a query waiting (an answer to any other socket needs no parsing). */
  waitsOn(socket: bigint): boolean {
    return this.bySocket.has(String(socket));
  }

  /** A query was sent at `nowMs` (monotonic). A repeat of a pending one (a retry) starts its wait anew. */
  add(query: DnsExchange, nowMs: number): void {
    this.dropExpired(nowMs);
    const key = keyOf(query);
    const socket = String(query.socket);
    this.remove(key);
    let keys = this.bySocket.get(socket);
    if (!keys) this.bySocket.set(socket, (keys = new Set()));
    if (keys.size >= this.limits.perSocket) this.remove(keys.values().next().value!);
    if (this.entries.size >= this.limits.capacity) this.remove(this.entries.keys().next().value!);
    this.entries.set(key, { socket, expiresAt: nowMs + this.limits.lifetimeMs });
    keys.add(key);
  }

  /** An answer arrived at `nowMs`: true when it matches a pending query, which it consumes. */
  take(answer: DnsExchange, nowMs: number): boolean {
    this.dropExpired(nowMs);
    const key = keyOf(answer);
    if (!this.entries.has(key)) return false;
    this.remove(key);
    return true;
  }

  /** Entries are in sending order, so the expired ones are at the front. */
  private dropExpired(nowMs: number): void {
    for (const [key, pending] of this.entries) {
      if (pending.expiresAt > nowMs) return;
      this.remove(key);
    }
  }

  private remove(key: string): void {
    const pending = this.entries.get(key);
    if (!pending) return;
    this.entries.delete(key);
    const keys = this.bySocket.get(pending.socket)!;
    keys.delete(key);
    if (keys.size === 0) this.bySocket.delete(pending.socket);
  }
}
