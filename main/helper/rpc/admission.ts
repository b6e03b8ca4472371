// Who gets a connection slot on the helper socket, and how refusals are logged. Any local user can
// connect to the socket, so nothing a stranger does may cost the helper more than a bounded
// amount: served connections are capped per uid and in total (refused peers never take one), a
// refused peer is kept open only briefly and only within a small budget, and refusals are logged
// as one line per uid per interval, not one per connection.
import { RefusalLog } from '../../common/refusal-log.js';

export interface AdmissionLimits {
  /** Connections one authorised uid may hold open. */
  servedPerUid: number;
  /** Connections of all authorised uids but root (root has its own reserve beside this). */
  servedTotal: number;
  /**
   * Refused connections kept open until the peer has read why (see RpcServer), per uid and in all;
   * beyond these a refused peer is closed at once, its refusal possibly unread.
   */
  lingerPerUid: number;
  lingerTotal: number;
  /** One summary log line per refused uid per this interval. */
  logIntervalMs: number;
}

export const DEFAULT_LIMITS: AdmissionLimits = {
  servedPerUid: 64,
  servedTotal: 256,
  lingerPerUid: 4,
  lingerTotal: 32,
  logIntervalMs: 60_000,
};

/** Counts per uid with a total; a slot is taken and given back exactly once. */
class SlotPool {
  private readonly perUid = new Map<number, number>();
  total = 0;

  constructor(
    private readonly perUidLimit: number,
    private readonly totalLimit: number,
  ) {}

  /** Takes a slot for uid; null when its own or the total limit is reached. Root ignores the total. */
  take(uid: number, ignoreTotal = false): (() => void) | null {
    const held = this.perUid.get(uid) ?? 0;
    if (held >= this.perUidLimit || (!ignoreTotal && this.total >= this.totalLimit)) return null;
    this.perUid.set(uid, held + 1);
    if (!ignoreTotal) this.total++;
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const now = (this.perUid.get(uid) ?? 1) - 1;
      if (now === 0) this.perUid.delete(uid);
      else this.perUid.set(uid, now);
      if (!ignoreTotal) this.total--;
    };
  }

  held(uid: number): number {
    return this.perUid.get(uid) ?? 0;
  }
}

export class Admission {
  private readonly served: SlotPool;
  private readonly lingering: SlotPool;
  private readonly refusals: RefusalLog;

  constructor(
    readonly limits: AdmissionLimits,
    log: (message: string) => void,
  ) {
    this.served = new SlotPool(limits.servedPerUid, limits.servedTotal);
    this.lingering = new SlotPool(limits.lingerPerUid, limits.lingerTotal);
    this.refusals = new RefusalLog(limits.logIntervalMs, log);
  }

  /** A slot for an authorised uid's connection, or null when it is at a limit. */
  serve(uid: number): (() => void) | null {
    return this.served.take(uid, uid === 0);
  }

  servedBy(uid: number): number {
    return this.served.held(uid);
  }

  /** A slot to keep a refused connection open until its peer has read the refusal, or null. */
  linger(uid: number): (() => void) | null {
    return this.lingering.take(uid);
  }

  /** Notes a refusal for the log (the first of each uid and interval is logged with its pid). */
  refused(uid: number, pid: number, reason: string): void {
    this.refusals.note(uid, pid, reason);
  }

  close(): void {
    this.refusals.flush();
  }
}
