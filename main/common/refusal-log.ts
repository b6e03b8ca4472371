// Logging refused connections in a bounded number of lines, for servers any local user can reach
// (the helper's socket, the browser shell's port): a stranger's flood must not fill the log.

/**
 * Refusal logging bounded in lines: the first refusal of a uid is logged as it happens, the rest
 * of that interval are counted and said in one line when it ends.
 */
export class RefusalLog {
  /** Keyed by uid and reason, so a summary never says one reason for another's refusals. */
  private readonly quiet = new Map<string, { uid: number; reason: string; more: number }>();
  private timer: NodeJS.Timeout | null = null;
  /** Distinct uids (and reasons) one interval tracks; past it, further ones go into one count. */
  private static readonly MAX_UIDS = 1024;
  private overflow = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly log: (message: string) => void,
  ) {}

  /** `pid` is said only in the first line; null when the caller cannot know it. */
  note(uid: number, pid: number | null, reason: string): void {
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
    this.log(`refused uid ${uid}${pid === null ? '' : ` (pid ${pid})`}: ${reason}`);
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
    if (this.overflow > 0)
      this.log(`refused ${this.overflow} more connection(s) of other uids in the last ${seconds} s`);
    this.quiet.clear();
    this.overflow = 0;
  }
}
