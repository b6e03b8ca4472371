// Tightening is free, loosening needs an administrator. Handlers say in words what a request would
// loosen (main/contract/authority.ts); this asks polkit's org.portcullis.manage for the process
// that sent it, waits without holding anything else up, and hands back a grant that the handler's
// change checks again inside its transaction (the store may have changed while the dialog was
// open). Root is always allowed. Refusals are errors of kind unauthorized (cancelled when the
// person dismissed the dialog) that say what needed an administrator and why it was not given.
import type { Socket } from 'node:net';
import { PortcullisError } from '../../contract/index.js';
import type { RpcConnection } from '../rpc/connection.js';
import { processStartTime } from '../../common/process-start.js';
import { identifyPeer, type ProcessIdentity } from './process-identity.js';
import { askPolkit, type PolkitAnswer, type PolkitRefusal } from './polkit-check.js';

/** How long a person may take at the dialog before the request is refused. */
export const DEFAULT_DIALOG_TIMEOUT_MS = 2 * 60_000;
/** Loosening requests of one connection waiting their turn (one dialog at a time per client). */
const MAX_WAITING_PER_CONNECTION = 4;
/** polkit checks running at once, over every connection. */
const MAX_RUNNING = 16;

export type Caller = Pick<RpcConnection, 'socket' | 'peer' | 'describe' | 'onClose'>;

/** What a caller may do in the request at hand: cover() refuses a loosening it was not granted. */
export class Grant {
  constructor(
    private readonly granted: boolean,
    private readonly actionId: string,
  ) {}

  /** Throws when `what` (a loosening found inside the change's transaction) was not granted. */
  cover(what: string | null): void {
    if (what === null || this.granted) return;
    throw refusal(
      what,
      'what it changes was changed by another request meanwhile; send it again',
      this.actionId,
      'unauthorized',
    );
  }
}

export interface AuthorityOptions {
  actionId: string;
  log(message: string): void;
  /** How long a person may take at the dialog (tests shorten it). */
  timeoutMs?: number;
}

interface Turns {
  tail: Promise<unknown>;
  waiting: number;
  gone: AbortController;
}

export class Authority {
  private readonly identities = new WeakMap<Socket, ProcessIdentity | null>();
  private readonly turns = new WeakMap<Caller, Turns>();
  private running = 0;
  private readonly timeoutMs: number;

  constructor(private readonly options: AuthorityOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_DIALOG_TIMEOUT_MS;
  }

  /** Names the process behind a socket as it is accepted, before it could exit and its pid be reused. */
  notePeer(socket: Socket, peer: { pid: number; uid: number }): void {
    this.identities.set(socket, peer.uid === 0 ? null : identifyPeer(peer));
  }

  /**
   * The caller's grant for a request that loosens as `what` says (null: it does not). Asks polkit
   * when it loosens and the caller is not root; throws the refusal when polkit does not grant it.
   */
  async request(caller: Caller, what: string | null): Promise<Grant> {
    if (caller.peer.uid === 0) return new Grant(true, this.options.actionId);
    if (what === null) return new Grant(false, this.options.actionId);
    const turns = this.turnsOf(caller);
    if (turns.waiting >= MAX_WAITING_PER_CONNECTION) {
      throw refusal(
        what,
        `this connection already has ${turns.waiting} requests waiting for an administrator`,
        this.options.actionId,
        'unauthorized',
      );
    }
    turns.waiting++;
    const mine = turns.tail.then(() => this.ask(caller, what, turns.gone.signal));
    turns.tail = mine
      .catch(() => undefined)
      .finally(() => {
        turns.waiting--;
      });
    await mine;
    return new Grant(true, this.options.actionId);
  }

  private turnsOf(caller: Caller): Turns {
    let turns = this.turns.get(caller);
    if (!turns) {
      const created: Turns = { tail: Promise.resolve(), waiting: 0, gone: new AbortController() };
      caller.onClose(() => created.gone.abort());
      this.turns.set(caller, created);
      turns = created;
    }
    return turns;
  }

  private async ask(caller: Caller, what: string, signal: AbortSignal): Promise<void> {
    const { actionId, log } = this.options;
    const refuse = (why: string, kind: 'unauthorized' | 'cancelled' = 'unauthorized') => {
      log(`${caller.describe()}: ${what}: refused (${why})`);
      return refusal(what, why, actionId, kind);
    };
    const subject = this.identities.get(caller.socket);
    if (!subject)
      throw refuse(`the process that opened this connection (pid ${caller.peer.pid}) could not be identified`);
    const gone = () => {
      const now = processStartTime(subject.pid);
      return now === subject.startTime
        ? null
        : now === null
          ? 'the process that opened this connection has exited'
          : 'the process that opened this connection has exited and its pid belongs to another process now';
    };
    const before = gone();
    if (before) throw refuse(before);
    if (this.running >= MAX_RUNNING)
      throw refuse(`${MAX_RUNNING} other requests are waiting for an administrator; try again shortly`);
    this.running++;
    let answer: PolkitAnswer;
    try {
      answer = await askPolkit({ actionId, subject, message: dialogMessage(what), timeoutMs: this.timeoutMs, signal });
    } finally {
      this.running--;
    }
    if (!answer.granted)
      throw refuse(
        refusalReason(answer.reason, answer.detail, this.timeoutMs),
        answer.reason === 'dismissed' ? 'cancelled' : 'unauthorized',
      );
    // polkit answered for the process it was given; the connection must still be that process's.
    const after = gone();
    if (after) throw refuse(after);
    log(`${caller.describe()}: ${what}: an administrator allowed it`);
  }
}

function refusal(what: string, why: string, actionId: string, kind: 'unauthorized' | 'cancelled'): PortcullisError {
  return new PortcullisError(kind, `${what[0]!.toUpperCase()}${what.slice(1)} needs an administrator: ${why}`, {
    polkitAction: actionId,
  });
}

function refusalReason(reason: PolkitRefusal, detail: string, timeoutMs: number): string {
  switch (reason) {
    case 'denied':
      return 'polkit does not allow it for this user';
    case 'no-agent':
      return "no polkit authentication agent could ask for an administrator's password (run it at a terminal or in the desktop session, or as root)";
    case 'dismissed':
      return 'the authentication dialog was dismissed';
    case 'timeout':
      return `no administrator answered within ${Math.round(timeoutMs / 1000)} s`;
    case 'abandoned':
      return 'the client went away while waiting';
    case 'failed':
      return `polkit could not be asked (${detail})`;
  }
}

/**
 * The agent's message. polkit replaces $(name) in it with request details, so none may come from
 * what a client wrote; control characters go too (the words are ours, the rule terms parsed ones).
 */
function dialogMessage(what: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = what.replace(/[\u0000-\u001f\u007f]/g, ' ').replaceAll('$(', '$ (');
  return `Authentication is required to let more traffic through the Portcullis firewall: ${clean}`;
}
