// Who gets a connection slot on the helper socket, and how refusals are logged. Any local user can
// connect to the socket, so nothing a stranger does may cost the helper more than a bounded
// amount: served connections are capped per uid and in total (refused peers never take one), a
// refused peer is kept open only briefly and only within a small budget, and refusals are logged
// as one line per uid per interval, not one per connection.

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

  constructor(private readonly perUidLimit: number, private readonly totalLimit: number) {}

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

  constructor(readonly limits: AdmissionLimits, log: (message: string) => void) {
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

/**
 * Refusal logging bounded in lines: the first refusal of a uid is logged as it happens, the rest
 * of that interval are counted and said in one line when it ends.
 */
class RefusalLog {
  /** Keyed by uid and reason, so a summary never says one reason for another's refusals. */
  private readonly quiet = new Map<string, { uid: number; reason: string; more: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** Distinct uids (and reasons) one interval tracks; past it, further ones go into one count. */
  private static readonly MAX_UIDS = 1024;
  private overflow = 0;

  constructor(private readonly intervalMs: number, private readonly log: (message: string) => void) {}

  note(uid: number, pid: number, reason: string): void {
    const key = `${uid} ${reason}`;
    const entry = this.quiet.get(key);
    if (entry) {
      entry.more++;
      return;
    }
    if (this.quiet.size >= RefusalLog.MAX_UIDS) {
      this.overflow++;
      return;
    }
    this.log(`refused uid ${uid} (pid ${pid}): ${reason}`);
    this.quiet.set(key, { uid, reason, more: 0 });
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
    }
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const seconds = this.intervalMs / 1000;
    for (const { uid, reason, more } of this.quiet.values()) {
      if (more > 0) this.log(`refused uid ${uid} ${more} more time(s) in the last ${seconds} s: ${reason}`);
    }
    if (this.overflow > 0) this.log(`refused ${this.overflow} more connection(s) of other uids in the last ${seconds} s`);
    this.quiet.clear();
    this.overflow = 0;
  }
}
