// A desktop notification the first time an app or a host is blocked: at most `maxPerWindow` in any
// `windowMs`, the rest summed into the next one, and none at all when the person turned them off.
import type { ConnectionEvent } from '../contract/index.js';

export interface FirstBlockNotifierOptions {
  show(title: string, body: string): void;
  now?: () => number;
  maxPerWindow?: number;
  windowMs?: number;
  /** How many app/host keys to remember before forgetting the oldest. */
  memory?: number;
}

export class FirstBlockNotifier {
  enabled = true;
  private readonly seen = new Set<string>();
  private shownAt: number[] = [];
  private suppressed = 0;
  private readonly now: () => number;
  private readonly maxPerWindow: number;
  private readonly windowMs: number;
  private readonly memory: number;

  constructor(private readonly options: FirstBlockNotifierOptions) {
    this.now = options.now ?? Date.now;
    this.maxPerWindow = options.maxPerWindow ?? 3;
    this.windowMs = options.windowMs ?? 60_000;
    this.memory = options.memory ?? 10_000;
  }

  onEvents(events: readonly ConnectionEvent[]): void {
    for (const event of events) {
      if (event.verdict !== 'block') continue;
      const host = event.remoteName ?? event.remoteAddr;
      const firstForApp = this.remember(`app:${event.appId}`);
      const firstForHost = this.remember(`host:${host}`);
      if (!firstForApp && !firstForHost) continue;
      if (!this.enabled) continue;
      const title = firstForApp ? `Portcullis blocked ${event.comm || 'an application'}` : `Portcullis blocked ${host}`;
      this.notify(
        title,
        `${event.comm || `app ${event.appId}`} → ${host}${event.remotePort ? ` port ${event.remotePort}` : ''} (${event.protocol})`,
      );
    }
  }

  private notify(title: string, body: string): void {
    const now = this.now();
    this.shownAt = this.shownAt.filter((time) => time > now - this.windowMs);
    if (this.shownAt.length >= this.maxPerWindow) {
      this.suppressed++;
      return;
    }
    this.shownAt.push(now);
    const more = this.suppressed > 0 ? ` (and ${this.suppressed} more blocked since the last notice)` : '';
    this.suppressed = 0;
    this.options.show(title, body + more);
  }

  /** True the first time a key is seen. */
  private remember(key: string): boolean {
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.memory) this.seen.delete(this.seen.values().next().value!);
    this.seen.add(key);
    return true;
  }
}
