// A progress line for work that takes a while (an import): shown on a terminal only, only once the
// work has run for a second, redrawn at most ten times a second, and cleared when done.

const SHOW_AFTER_MS = 1000;
const REDRAW_MS = 100;
const WIDTH = 30;

export class ProgressLine {
  private readonly started = Date.now();
  private lastDraw = 0;
  private shown = false;

  /** `write` puts text on the terminal without a newline; null when there is no terminal. */
  constructor(private readonly write: ((text: string) => void) | null) {}

  /** `fraction` of the work done (null when unknown), and what is happening. */
  update(fraction: number | null, text: string, now = Date.now()): void {
    if (!this.write || now - this.started < SHOW_AFTER_MS || now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.shown = true;
    const bar =
      fraction === null
        ? ''
        : `[${'#'.repeat(Math.round(Math.min(1, fraction) * WIDTH)).padEnd(WIDTH, '.')}] ${String(Math.floor(Math.min(1, fraction) * 100)).padStart(3)}% `;
    this.write(`\r\x1b[2K${bar}${text}`);
  }

  /** Clears the line (the summary follows on its own). */
  done(): void {
    if (this.shown) this.write?.('\r\x1b[2K');
    this.shown = false;
  }
}

/** "1 234 567" for a person. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
