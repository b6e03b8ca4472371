// Answers "until the app quits": their rules go when every process that asked has exited. The
// processes are known by pid and start time (a recycled pid is another process), kept in the store
// so a restarted helper still removes the rules of an app that quit meanwhile.
import { readFileSync } from 'node:fs';
import type { KeyValueStore } from '../store/key-value-store.js';

export interface UntilQuitEntry {
  ruleIds: number[];
  /** start: the process's start time in clock ticks since boot (/proc/PID/stat field 22). */
  processes: Array<{ pid: number; start: string }>;
}

export interface UntilQuitState {
  askUntilQuit: UntilQuitEntry[];
}

export const DEFAULT_UNTIL_QUIT: UntilQuitState = { askUntilQuit: [] };

const POLL_MS = 2000;

/** A process's start time, or null when it is gone. */
export function processStart(pid: number, procRoot = '/proc'): string | null {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

export class UntilQuit {
  private timer: NodeJS.Timeout | null = null;
  private checking = false;

  constructor(
    private readonly store: KeyValueStore<UntilQuitState>,
    private readonly removeRules: (ids: number[]) => Promise<number[]>,
    private readonly log: (message: string) => void,
    private readonly procRoot = '/proc',
  ) {}

  /** Remembers rules that last while these processes run (those already gone are not waited for). */
  add(ruleIds: number[], pids: number[]): void {
    const processes = pids.flatMap((pid) => {
      const start = processStart(pid, this.procRoot);
      return start === null ? [] : [{ pid, start }];
    });
    this.store.set({ askUntilQuit: [...this.store.get().askUntilQuit, { ruleIds, processes }] });
    this.schedule();
  }

  /** Checks at once (the app may have quit while the helper was away), then while rules wait. */
  start(): void {
    void this.check();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  get waiting(): number {
    return this.store.get().askUntilQuit.length;
  }

  /** Removes the rules of apps whose processes have all exited. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const entries = this.store.get().askUntilQuit;
      const quit = entries.filter((entry) =>
        entry.processes.every(({ pid, start }) => processStart(pid, this.procRoot) !== start),
      );
      if (quit.length > 0) {
        const ids = quit.flatMap((entry) => entry.ruleIds);
        const removed = await this.removeRules(ids);
        if (removed.length > 0) this.log(`the app quit: removed rule(s) ${removed.join(', ')} answered until then`);
        const left = this.store.get().askUntilQuit.filter((entry) => !sameEntry(quit, entry));
        this.store.set({ askUntilQuit: left });
      }
    } catch (error) {
      this.log(`removing rules of apps that quit failed: ${(error as Error).message}`);
    } finally {
      this.checking = false;
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.timer || this.store.get().askUntilQuit.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.check();
    }, POLL_MS);
    this.timer.unref();
  }
}

/** Entries read at different times are different objects: compare what they say. */
function sameEntry(list: UntilQuitEntry[], entry: UntilQuitEntry): boolean {
  const key = JSON.stringify(entry);
  return list.some((other) => JSON.stringify(other) === key);
}
