// A desktop notification when ask mode has a new question: one per question, a few a minute at most
// (the rest summed into the next), each opening the questions when clicked. Questions asked while no
// window was open come in the first list after connecting, so they are announced too.
import { describePrompt, type Prompt } from '../contract/index.js';

export interface PromptNotifierOptions {
  /** Shows a notification; `open` is what clicking it does. */
  show(title: string, body: string, open: () => void): void;
  /** Opens the questions (the window, at the queue). */
  open(): void;
  now?: () => number;
  maxPerWindow?: number;
  windowMs?: number;
}

export class PromptNotifier {
  private announced = new Set<number>();
  private shownAt: number[] = [];
  private suppressed = 0;
  /** Questions waiting now (the tray shows the count). */
  pending = 0;
  private readonly now: () => number;
  private readonly maxPerWindow: number;
  private readonly windowMs: number;

  constructor(private readonly options: PromptNotifierOptions) {
    this.now = options.now ?? Date.now;
    this.maxPerWindow = options.maxPerWindow ?? 3;
    this.windowMs = options.windowMs ?? 60_000;
  }

  /** The helper's current questions (every prompts.changed notification). */
  onPrompts(prompts: readonly Prompt[]): void {
    this.pending = prompts.length;
    const fresh = prompts.filter((prompt) => !this.announced.has(prompt.id));
    // Only ids still waiting are remembered: question ids are not reused while the helper runs.
    this.announced = new Set(prompts.map((prompt) => prompt.id));
    if (fresh.length === 0) return;
    const now = this.now();
    this.shownAt = this.shownAt.filter((time) => time > now - this.windowMs);
    if (this.shownAt.length >= this.maxPerWindow) {
      this.suppressed += fresh.length;
      return;
    }
    this.shownAt.push(now);
    const more = fresh.length - 1 + this.suppressed;
    this.suppressed = 0;
    const title = more > 0 ? `Portcullis: ${more + 1} apps are waiting for an answer` : 'Portcullis: an app is waiting';
    this.options.show(title, `${describePrompt(fresh[0]!)}${more > 0 ? `, and ${more} more` : ''}`, this.options.open);
  }
}
