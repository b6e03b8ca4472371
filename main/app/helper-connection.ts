// The app's link to the helper as a state machine: not-running → (start through polkit) → starting →
// connected, or cancelled/refused/failed with the reason in plain words. A lost connection goes back
// to not-running and is retried quietly. No Electron here; the connect and launch steps are delegates.
import { PortcullisError, type HelperState, type Status } from '../contract/index.js';
import type { HelperClient } from '../client/helper-client.js';

/** What the app uses of a helper client (HelperClient satisfies it). */
export type HelperLink = Pick<HelperClient, 'call' | 'relay' | 'on' | 'onClose' | 'close'>;

export type LaunchOutcome = { ok: true } | { ok: false; state: HelperState };

export interface HelperConnectionDeps {
  connect(): Promise<HelperLink>;
  /** Starts the helper through polkit and resolves once it answers (or says why not). */
  launch(): Promise<LaunchOutcome>;
  /** Called on every state change (IPC notification, tray, window title). */
  onState?(state: HelperState): void;
  /** Called with each newly connected link, before the state says connected (subscribe to streams here). */
  onLink?(link: HelperLink): void;
  /** How long to wait before trying again after losing the helper; 0 turns retrying off. */
  retryMs?: number;
}

export class HelperConnection {
  private current: HelperState = { state: 'not-running', message: 'not connected yet' };
  private link: HelperLink | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connecting: Promise<HelperState> | null = null;
  private disposed = false;

  constructor(private readonly deps: HelperConnectionDeps) {}

  get state(): HelperState {
    return this.current;
  }

  /** The connected link, or an 'unavailable' error saying why there is none. */
  require(): HelperLink {
    if (this.link) return this.link;
    const why = 'message' in this.current ? this.current.message : 'the helper is starting';
    throw new PortcullisError('unavailable', `the helper is not connected: ${why}`);
  }

  /** Tries once to reach a running helper. Never throws: the outcome is the state. */
  connect(): Promise<HelperState> {
    this.connecting ??= this.tryConnect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  /** Starts the helper through polkit when it is not there, then connects. */
  async start(): Promise<HelperState> {
    if (this.link) return this.current;
    const already = await this.connect();
    if (already.state === 'connected') return already;
    this.setState({ state: 'starting' });
    const outcome = await this.deps.launch();
    if (!outcome.ok) {
      this.setState(outcome.state);
      return outcome.state;
    }
    return this.connect();
  }

  /** The status changed (a notification or a call that returned it). */
  updateStatus(status: Status): void {
    if (this.link) this.setState({ state: 'connected', status });
  }

  dispose(): void {
    this.disposed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.link?.close();
    this.link = null;
  }

  private async tryConnect(): Promise<HelperState> {
    if (this.link) return this.current;
    let link: HelperLink;
    try {
      link = await this.deps.connect();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const kind = (error as { kind?: string }).kind;
      // A launch outcome (cancelled/refused) stays on screen until the person acts again.
      if (this.current.state === 'not-running' || this.current.state === 'starting' || kind === 'unauthorized') {
        this.setState(kind === 'unauthorized' ? { state: 'refused', message } : { state: 'not-running', message });
      }
      return this.current;
    }
    try {
      const status = await link.call('status');
      if (this.disposed) {
        link.close();
        return this.current;
      }
      this.link = link;
      link.onClose((error) => this.lost(link, error));
      this.deps.onLink?.(link);
      this.setState({ state: 'connected', status });
    } catch (error) {
      link.close();
      this.setState({ state: 'failed', message: error instanceof Error ? error.message : String(error) });
    }
    return this.current;
  }

  private lost(link: HelperLink, error: PortcullisError): void {
    if (this.link !== link) return;
    this.link = null;
    if (this.disposed) return;
    this.setState({ state: 'not-running', message: error.message });
    const retryMs = this.deps.retryMs ?? 2000;
    if (retryMs > 0) this.scheduleRetry(retryMs);
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.disposed || this.link) return;
      void this.connect().then((state) => {
        if (state.state !== 'connected' && !this.disposed) this.scheduleRetry(ms);
      });
    }, ms);
    this.retryTimer.unref?.();
  }

  private setState(state: HelperState): void {
    this.current = state;
    this.deps.onState?.(state);
  }
}
