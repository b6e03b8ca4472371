// The questions of ask mode, kept in memory: every held connection (or UDP flow) belongs to the
// question of its app, one question per app, listing each destination it waits for. Pure: the
// ask service feeds it kernel holds, closes and answers, and reads what to show and what is due.
import type { Prompt, PromptHost } from '../../contract/index.js';
import type { ExecutableIdentity, HoldRef } from '../../../native/api.js';

/** A connection held in the kernel, as a question shows it. */
export interface HeldConnection {
  ref: HoldRef;
  appId: number;
  /** An app the owner's unit claims (the kernel's decide() applies its blocks too), 0 when none. */
  claimId: number;
  pid: number;
  uid: number;
  /** The owner's executable as the kernel knew it, null when unknown. */
  exe: ExecutableIdentity | null;
  /** The process's command name (what a question shows when the app is not known). */
  comm: string;
  remoteAddr: string;
  remoteName: string | null;
  remotePort: number;
  protocol: 'tcp' | 'udp';
  /** When it was held and when it gets the timeout action (ms since epoch). */
  heldAt: number;
  deadline: number;
}

export interface AppFacts {
  name: string;
  exe: string | null;
}

interface Question {
  id: number;
  appId: number;
  app: AppFacts;
  held: Map<string, HeldConnection>;
}

/** A held flow's identity as text (a TCP connect: its socket; a UDP flow: its socket and remote). */
export function heldKey(ref: HoldRef): string {
  if (ref.protocol === 'tcp') return `tcp/${ref.cookie}`;
  return `udp/${ref.cookie}/${Buffer.from(ref.remote).toString('hex')}/${ref.remotePort}`;
}

export class QuestionBook {
  private readonly byApp = new Map<number, Question>();
  private readonly byId = new Map<number, Question>();
  /** Held connections by key, to their question. */
  private readonly owner = new Map<string, Question>();
  private nextId = 1;

  /** Adds a held connection to its app's question (made when the app has none); false when already there. */
  add(held: HeldConnection, app: AppFacts): boolean {
    const key = heldKey(held.ref);
    if (this.owner.has(key)) return false;
    let question = this.byApp.get(held.appId);
    if (!question) {
      question = { id: this.nextId++, appId: held.appId, app, held: new Map() };
      this.byApp.set(held.appId, question);
      this.byId.set(question.id, question);
    }
    question.held.set(key, held);
    this.owner.set(key, question);
    return true;
  }

  /** Takes connections out (answered, decided, timed out or gone); a question left empty goes. */
  remove(held: Iterable<HeldConnection>): void {
    for (const connection of held) {
      const key = heldKey(connection.ref);
      const question = this.owner.get(key);
      if (!question) continue;
      this.owner.delete(key);
      question.held.delete(key);
      if (question.held.size === 0) {
        this.byApp.delete(question.appId);
        this.byId.delete(question.id);
      }
    }
  }

  /** The held connections of a socket (its application closed it). */
  ofSocket(cookie: bigint): HeldConnection[] {
    const out: HeldConnection[] = [];
    for (const question of this.byId.values())
      for (const held of question.held.values()) if (held.ref.cookie === cookie) out.push(held);
    return out;
  }

  has(ref: HoldRef): boolean {
    return this.owner.has(heldKey(ref));
  }

  question(id: number): { appId: number; app: AppFacts; held: HeldConnection[] } | null {
    const question = this.byId.get(id);
    return question ? { appId: question.appId, app: question.app, held: [...question.held.values()] } : null;
  }

  all(): HeldConnection[] {
    return [...this.owner.keys()].map((key) => this.owner.get(key)!.held.get(key)!);
  }

  get size(): number {
    return this.byId.size;
  }

  get heldCount(): number {
    return this.owner.size;
  }

  /** Connections whose deadline has come. */
  due(now: number): HeldConnection[] {
    return this.all().filter((held) => held.deadline <= now);
  }

  nextDeadline(): number | null {
    let next: number | null = null;
    for (const held of this.all()) if (next === null || held.deadline < next) next = held.deadline;
    return next;
  }

  /** The questions as clients show them, oldest first; hosts in the order they were asked for. */
  prompts(): Prompt[] {
    const out: Prompt[] = [];
    for (const question of this.byId.values()) {
      const hosts = new Map<string, PromptHost>();
      const pids = new Set<number>();
      let askedAt = Infinity;
      let deadline = Infinity;
      for (const held of question.held.values()) {
        pids.add(held.pid);
        askedAt = Math.min(askedAt, held.heldAt);
        deadline = Math.min(deadline, held.deadline);
        let host = hosts.get(held.remoteAddr);
        if (!host) {
          host = { remoteAddr: held.remoteAddr, remoteName: held.remoteName, ports: [], protocols: [], held: 0 };
          hosts.set(held.remoteAddr, host);
        }
        host.remoteName ??= held.remoteName;
        if (!host.ports.includes(held.remotePort)) host.ports.push(held.remotePort);
        if (!host.protocols.includes(held.protocol)) host.protocols.push(held.protocol);
        host.held++;
      }
      out.push({
        id: question.id,
        appId: question.appId,
        appName: question.app.name,
        exe: question.app.exe,
        pids: [...pids].sort((a, b) => a - b),
        askedAt,
        deadline,
        hosts: [...hosts.values()].map((host) => ({ ...host, ports: host.ports.sort((a, b) => a - b) })),
      });
    }
    return out.sort((a, b) => a.askedAt - b.askedAt || a.id - b.id);
  }
}
