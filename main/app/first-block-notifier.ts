// A desktop notification the first time an app or a host is blocked: at most `maxPerWindow` in any
// `windowMs`, the rest summed into the next one, and none at all when the person turned them off.
import type { ConnectionEvent } from '../contract/index.js';
import { NotificationBudget, type NotificationBudgetOptions } from './notification-budget.js';

export interface FirstBlockNotifierOptions extends NotificationBudgetOptions {
  show(title: string, body: string): void;
  /** How many app/host keys to remember before forgetting the oldest. */
  memory?: number;
}

export class FirstBlockNotifier {
  enabled = true;
  private readonly seen = new Set<string>();
  private readonly budget: NotificationBudget;
  private readonly memory: number;

  constructor(private readonly options: FirstBlockNotifierOptions) {
    this.budget = new NotificationBudget(options);
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
    const heldBack = this.budget.spend();
    if (heldBack === null) return;
    const more = heldBack > 0 ? ` (and ${heldBack} more blocked since the last notice)` : '';
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
