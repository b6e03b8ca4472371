// Enforcement on/off, remembered in the store so a restarted helper keeps it, with an optional
// pause that ends by itself (a timer, and on start-up when the pause ran out while we were away).
import type { KeyValueStore } from './store/key-value-store.js';
import { inKernel } from './kernel-error.js';

export interface EnforcementState {
  enforcing: boolean;
  /** ms since epoch when a pause ends, or null. */
  pausedUntil: number | null;
}

export const DEFAULT_ENFORCEMENT: EnforcementState = { enforcing: true, pausedUntil: null };

const MAX_TIMER_MS = 2 ** 31 - 1;

export class Enforcement {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: KeyValueStore<EnforcementState>,
    private readonly kernel: { setEnforcing(enabled: boolean): Promise<void> },
    private readonly onChange: (state: EnforcementState) => void,
    private readonly log: (message: string) => void,
  ) {}

  get state(): EnforcementState {
    return this.store.get();
  }

  /** Puts the stored state into the kernel (and ends a pause that ran out meanwhile). */
  async start(): Promise<void> {
    const state = this.store.get();
    if (!state.enforcing && state.pausedUntil !== null && state.pausedUntil <= Date.now()) {
      await this.set(true);
      return;
    }
    await inKernel('setting enforcement failed', () => this.kernel.setEnforcing(state.enforcing));
    this.schedule(state);
  }

  async set(enabled: boolean, pauseMinutes?: number): Promise<EnforcementState> {
    const pausedUntil = !enabled && pauseMinutes !== undefined ? Date.now() + pauseMinutes * 60_000 : null;
    // Kernel first: if it refuses, the stored state still says what is enforced.
    await inKernel('setting enforcement failed', () => this.kernel.setEnforcing(enabled));
    const state = this.store.set({ enforcing: enabled, pausedUntil });
    this.log(
      enabled
        ? 'enforcement on'
        : pausedUntil
          ? `enforcement paused until ${new Date(pausedUntil).toISOString()}`
          : 'enforcement off',
    );
    this.schedule(state);
    this.onChange(state);
    return state;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(state: EnforcementState): void {
    this.stop();
    if (state.enforcing || state.pausedUntil === null) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.set(true).catch((error: Error) => this.log(`resuming enforcement failed: ${error.message}`));
      },
      Math.min(Math.max(state.pausedUntil - Date.now(), 0), MAX_TIMER_MS),
    );
    this.timer.unref();
  }
}
