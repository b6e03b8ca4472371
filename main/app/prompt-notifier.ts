// A desktop notification when ask mode has a new question: one per question, a few a minute at most
// (the rest summed into the next), each opening the questions when clicked. Questions asked while no
// window was open come in the first list after connecting, so they are announced too.
import { describePrompt, type Prompt } from '../contract/index.js';
import { NotificationBudget, type NotificationBudgetOptions } from './notification-budget.js';

export interface PromptNotifierOptions extends NotificationBudgetOptions {
  /** Shows a notification; `open` is what clicking it does. */
  show(title: string, body: string, open: () => void): void;
  /** Opens the questions (the window, at the queue). */
  open(): void;
}

export class PromptNotifier {
  private announced = new Set<number>();
  /** Questions waiting now (the tray shows the count). */
  pending = 0;
  private readonly budget: NotificationBudget;

  constructor(private readonly options: PromptNotifierOptions) {
    this.budget = new NotificationBudget(options);
  }

  /** The helper's current questions (every prompts.changed notification). */
  onPrompts(prompts: readonly Prompt[]): void {
    this.pending = prompts.length;
    const fresh = prompts.filter((prompt) => !this.announced.has(prompt.id));
    // Only ids still waiting are remembered: question ids are not reused while the helper runs.
    this.announced = new Set(prompts.map((prompt) => prompt.id));
    if (fresh.length === 0) return;
    const heldBack = this.budget.spend(fresh.length);
    if (heldBack === null) return;
    const more = fresh.length - 1 + heldBack;
    const title = more > 0 ? `Portcullis: ${more + 1} apps are waiting for an answer` : 'Portcullis: an app is waiting';
    this.options.show(title, `${describePrompt(fresh[0]!)}${more > 0 ? `, and ${more} more` : ''}`, this.options.open);
  }
}
