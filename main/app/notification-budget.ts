// How many desktop notifications a notifier may show: at most `maxPerWindow` in any `windowMs`. What
// could not be shown is counted and handed to the next notice to sum up, so a burst becomes a few
// notices and a "… more" rather than a flood or silence.

export interface NotificationBudgetOptions {
  now?: () => number;
  maxPerWindow?: number;
  windowMs?: number;
}

export class NotificationBudget {
  private shownAt: number[] = [];
  private heldBack = 0;
  private readonly now: () => number;
  private readonly maxPerWindow: number;
  private readonly windowMs: number;

  constructor(options: NotificationBudgetOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxPerWindow = options.maxPerWindow ?? 3;
    this.windowMs = options.windowMs ?? 60_000;
  }

  /**
   * Asks to show one notice about `items` new things. When the window allows it, returns how many
   * earlier things were held back since the last notice (the notice sums them up; the count starts
   * over). When it does not, the items are held back and the answer is null: show nothing.
   */
  spend(items = 1): number | null {
    const now = this.now();
    this.shownAt = this.shownAt.filter((time) => time > now - this.windowMs);
    if (this.shownAt.length >= this.maxPerWindow) {
      this.heldBack += items;
      return null;
    }
    this.shownAt.push(now);
    const heldBack = this.heldBack;
    this.heldBack = 0;
    return heldBack;
  }
}
