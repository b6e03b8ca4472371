// Ask mode in the helper. The kernel holds what no rule decides (bpf/hold.bpf.h) and reports each
// hold; this turns holds into questions (one per app, question-book.ts), answers them (an answer
// for once decides the held connections; any other becomes ordinary rules, answer-rules.ts), applies
// the timeout action to what waits too long, and re-decides everything held after each rules change
// with the kernel's own decide(). A restarted helper reads what is still held and asks again.
//
// Every kernel step runs in one queue, so an answer, a rules change and a timeout never interleave.
import {
  PortcullisError,
  parseIp,
  type Action,
  type ParsedDraft,
  type Prompt,
  type PromptAnswer,
  type PromptAnswerResult,
  type Settings,
} from '../../contract/index.js';
import type {
  DecideQuery,
  DecisionEvent,
  EventDecoding,
  HeldFlow,
  HoldAnswer,
  HoldOutcome,
  HoldRef,
  KernelDecision,
} from '../../../native/api.js';
import { monotonicToWallMs } from '../decision-events.js';
import type { OwnerOfEvent } from '../apps/app-identities.js';
import type { RpcConnection } from '../rpc/connection.js';
import { QuestionBook, heldKey, type AppFacts, type HeldConnection } from './question-book.js';
import { planAnswer, type AnswerPlan } from './answer-rules.js';
import type { UntilQuit } from './until-quit.js';

/** The part of the native Firewall ask mode drives. */
export interface AskFirewall {
  setAsk(options: { holdMs: number; helperTgid: number }): Promise<void>;
  readHolds(decoding: EventDecoding): Promise<HeldFlow[]>;
  answerHolds(answers: readonly HoldAnswer[]): Promise<HoldOutcome[]>;
  forgetHolds(refs: readonly HoldRef[]): Promise<void>;
  decideFlows(queries: readonly DecideQuery[]): Promise<KernelDecision[]>;
}

export interface AskDeps {
  firewall: AskFirewall;
  settings: () => Settings;
  /** Adds rules in one change (all or none). */
  addRules(drafts: ParsedDraft[]): Promise<Array<{ id: number }>>;
  app(appId: number): AppFacts | null;
  /** The helper's app id of a kernel owner (classifying the process when the kernel had none). */
  appIdOf(owner: OwnerOfEvent): number;
  /** The name an address was resolved from, if an app received it in a DNS answer. */
  nameOf(address: string, now: number): string | null;
  untilQuit: UntilQuit;
  decoding: EventDecoding;
  log(message: string): void;
  /** The helper's process (its traffic is never held). */
  helperTgid?: number;
  /**
   * Held connections refused (by an answer, a rule or the timeout), for the connection history: the
   * kernel reports what it lets through, but a refused connect sends nothing more to report.
   */
  onRefused?(held: readonly HeldConnection[]): void;
}

/** The kernel holds a connect this much longer than the helper's timeout, so the helper's action comes first. */
export const KERNEL_HOLD_MARGIN_MS = 3000;
const KERNEL_HOLD_MAX_MS = 120_000;
/** Notifications of a burst of changes go out together. */
const NOTIFY_MS = 100;
const MAX_TIMER_MS = 2 ** 31 - 1;

export function kernelHoldMs(timeoutSec: number): number {
  return Math.min(timeoutSec * 1000 + KERNEL_HOLD_MARGIN_MS, KERNEL_HOLD_MAX_MS);
}

class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step, step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

export class AskService {
  private readonly book = new QuestionBook();
  private readonly queue = new SerialQueue();
  /** UDP flows held per socket, answered or not: their entries go when the socket closes. */
  private readonly udpFlows = new Map<bigint, Map<string, HoldRef>>();
  private readonly subscribers = new Set<RpcConnection>();
  private notifyTimer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private holdMs = -1;
  private stopped = false;
  /** Held connections decided so far (answers, rules, timeouts), for status and tests. */
  decided = 0;

  constructor(private readonly deps: AskDeps) {}

  /** Tells the kernel someone asks, then takes over what a previous helper left held. */
  async start(): Promise<void> {
    await this.applySettings();
    this.deps.untilQuit.start();
    await this.queue.run(() => this.adopt());
  }

  /**
   * Nobody asks while the helper is away: new undecided connects are refused at once (never let
   * through); connects held now keep waiting for the next helper until their hold ends.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.notifyTimer) clearTimeout(this.notifyTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deps.untilQuit.stop();
    this.subscribers.clear();
    await this.queue.run(() => this.deps.firewall.setAsk({ holdMs: 0, helperTgid: this.helperTgid }));
  }

  get pending(): number {
    return this.book.size;
  }

  get heldCount(): number {
    return this.book.heldCount;
  }

  prompts(): Prompt[] {
    return this.book.prompts();
  }

  /** The connection hears of every change to the questions, starting with the current ones. */
  subscribe(connection: RpcConnection): void {
    if (this.subscribers.has(connection)) return;
    this.subscribers.add(connection);
    connection.onClose(() => this.subscribers.delete(connection));
    connection.notify('prompts.changed', { prompts: this.prompts() });
  }

  /** Kernel events: holds become questions, closes take sockets out of them. Others are ignored. */
  noteEvents(events: readonly DecisionEvent[]): void {
    const held: HeldConnection[] = [];
    const closed: bigint[] = [];
    const now = Date.now();
    for (const event of events) {
      if (event.kind === 'hold') {
        const connection = this.fromEvent(event, now);
        if (connection) held.push(connection);
      } else if (event.kind === 'unhold') {
        closed.push(event.socketCookie);
      }
    }
    if (held.length === 0 && closed.length === 0) return;
    void this.queue
      .run(async () => {
        // Holds first: a socket held and closed within one batch must not leave a question behind
        // (a socket's hold always comes before its close; a UDP flow's entry goes with the close).
        if (held.length > 0) await this.holdsArrived(held);
        if (closed.length > 0) await this.socketsClosed(closed);
      })
      .catch((error: Error) => this.deps.log(`ask mode: handling held connections failed: ${error.message}`));
  }

  /** What an answer would do to the question as it is now (throws what answering would). */
  plan(answer: PromptAnswer): AnswerPlan {
    return this.planOf(answer).plan;
  }

  private planOf(answer: PromptAnswer) {
    const question = this.book.question(answer.id);
    if (!question)
      throw new PortcullisError(
        'not-found',
        `there is no question ${answer.id} waiting (answered, timed out, or the app quit; see "portcullis prompts")`,
        { where: 'params.id' },
      );
    return {
      question,
      plan: planAnswer(answer, { appId: question.appId, appName: question.app.name, held: question.held }),
    };
  }

  /** An answer from a client: decides the covered connections, and remembers it as rules unless given once. */
  answer(answer: PromptAnswer, who: string): Promise<PromptAnswerResult> {
    return this.queue.run(async () => {
      const { question, plan } = this.planOf(answer);
      let ruleIds: number[] = [];
      if (plan.drafts.length > 0) {
        ruleIds = (await this.deps.addRules(plan.drafts)).map((rule) => rule.id);
        if (answer.lifetime === 'until-quit')
          this.deps.untilQuit.add(ruleIds, [...new Set(question.held.map((held) => held.pid))]);
      }
      const decided = await this.decide(plan.covered, answer.action);
      this.deps.log(
        `${who}: answered ${answer.action} for ${question.app.name} (${answer.scope}${answer.host ? ` ${answer.host}` : ''}, ${
          typeof answer.lifetime === 'object' ? `${Math.round(answer.lifetime.forMs / 60_000)} min` : answer.lifetime
        }): ${decided} connection(s) decided${ruleIds.length > 0 ? `, rule(s) ${ruleIds.join(', ')}` : ''}`,
      );
      return { ruleIds, decided };
    });
  }

  /**
   * After a rules or settings change: the kernel's hold time follows the timeout setting, and every
   * held connection the rules (or another mode) now decide is released or refused accordingly.
   */
  rulesChanged(): void {
    if (this.stopped) return;
    void this.queue
      .run(async () => {
        await this.applySettings();
        await this.redecide(this.book.all());
      })
      .catch((error: Error) => this.deps.log(`ask mode: re-deciding held connections failed: ${error.message}`));
  }

  /** Enforcement off lets everything through: what is held goes too. */
  enforcementChanged(enforcing: boolean): void {
    if (enforcing || this.stopped) return;
    void this.queue
      .run(() => this.decide(this.book.all(), 'allow'))
      .catch((error: Error) => this.deps.log(`ask mode: releasing held connections failed: ${error.message}`));
  }

  private get helperTgid(): number {
    return this.deps.helperTgid ?? process.pid;
  }

  private async applySettings(): Promise<void> {
    const holdMs = kernelHoldMs(this.deps.settings().askTimeoutSec);
    if (holdMs === this.holdMs) return;
    await this.deps.firewall.setAsk({ holdMs, helperTgid: this.helperTgid });
    this.holdMs = holdMs;
  }

  private fromEvent(event: DecisionEvent, now: number): HeldConnection | null {
    if (event.protocol !== 'tcp' && event.protocol !== 'udp') return null;
    const remote = parseIp(event.remoteAddr);
    if (!remote.ok) return null;
    const heldAt = Math.round(monotonicToWallMs(event.timeNs, now));
    return {
      ref: {
        cookie: event.socketCookie,
        protocol: event.protocol,
        family: event.family,
        remote: remote.value.bytes,
        remotePort: event.remotePort,
      },
      appId: this.deps.appIdOf(event),
      claimId: 0, // a decision event carries no unit claim (only a pcl_holds entry does)
      pid: event.tgid,
      uid: event.uid,
      exe: event.exe,
      comm: event.comm,
      remoteAddr: event.remoteAddr,
      remoteName: this.deps.nameOf(event.remoteAddr, now),
      remotePort: event.remotePort,
      protocol: event.protocol,
      heldAt,
      deadline: heldAt + this.deps.settings().askTimeoutSec * 1000,
    };
  }

  private appFacts(appId: number, comm: string): AppFacts {
    return this.deps.app(appId) ?? { name: comm || `app ${appId}`, exe: null };
  }

  /** New holds join their questions, unless the rules decide them already (a rule added meanwhile). */
  private async holdsArrived(held: HeldConnection[]): Promise<void> {
    const fresh = held.filter((connection) => !this.book.has(connection.ref));
    for (const connection of fresh) {
      if (connection.protocol === 'udp') this.trackUdp(connection.ref);
      this.book.add(connection, this.appFacts(connection.appId, connection.comm));
    }
    await this.redecide(fresh);
    await this.timeOut();
    this.changed();
  }

  private trackUdp(ref: HoldRef): void {
    let flows = this.udpFlows.get(ref.cookie);
    if (!flows) this.udpFlows.set(ref.cookie, (flows = new Map()));
    flows.set(heldKey(ref), ref);
  }

  /** Sockets their applications closed: out of the questions, and their UDP entries out of the kernel. */
  private async socketsClosed(cookies: bigint[]): Promise<void> {
    const forget: HoldRef[] = [];
    for (const cookie of cookies) {
      this.book.remove(this.book.ofSocket(cookie));
      const flows = this.udpFlows.get(cookie);
      if (flows) forget.push(...flows.values());
      this.udpFlows.delete(cookie);
    }
    await this.deps.firewall.forgetHolds(forget);
    this.changed();
  }

  /** Releases or refuses held connections; they leave their questions. Returns how many still waited. */
  private async decide(held: HeldConnection[], action: Action): Promise<number> {
    const waiting = held.filter((connection) => this.book.has(connection.ref));
    if (waiting.length === 0) return 0;
    // Out of the questions before the kernel hears the answer: the app sees a refusal or its
    // connection at once, and whoever it tells must not then find the connection still waiting.
    this.book.remove(waiting);
    let outcomes: HoldOutcome[];
    try {
      outcomes = await this.deps.firewall.answerHolds(waiting.map(({ ref }) => ({ ref, verdict: action })));
    } catch (error) {
      // Not answered: they wait in their questions again (the caller logs the failure).
      for (const connection of waiting) this.book.add(connection, this.appFacts(connection.appId, connection.comm));
      this.changed();
      throw error;
    }
    let decided = 0;
    outcomes.forEach((outcome, i) => {
      if (outcome === 'gone') return;
      decided++;
      if (typeof outcome === 'object')
        this.deps.log(
          `ask mode: the ${action} for ${waiting[i]!.remoteAddr}:${waiting[i]!.remotePort} could not be sent (errno ${outcome.errno}); its hold ends with it`,
        );
    });
    this.decided += decided;
    if (action === 'block') this.deps.onRefused?.(waiting.filter((_, i) => outcomes[i] !== 'gone'));
    this.changed();
    return decided;
  }

  /** Asks the kernel's decide() about held connections; those a rule or the mode now decides are decided so. */
  private async redecide(held: HeldConnection[]): Promise<void> {
    if (held.length === 0) return;
    const decisions = await this.deps.firewall.decideFlows(
      held.map((connection) => ({
        appId: connection.appId,
        claimId: connection.claimId,
        family: connection.ref.family,
        protocol: connection.protocol,
        remote: connection.ref.remote,
        remotePort: connection.remotePort,
      })),
    );
    const byAction: Record<Action, HeldConnection[]> = { allow: [], block: [] };
    decisions.forEach((decision, i) => {
      if (decision === 'allow' || decision === 'block') byAction[decision].push(held[i]!);
    });
    await this.decide(byAction.allow, 'allow');
    await this.decide(byAction.block, 'block');
  }

  /** Held connections past their deadline get the timeout action (for them only; nothing is remembered). */
  private async timeOut(): Promise<void> {
    const due = this.book.due(Date.now());
    if (due.length > 0) {
      const action = this.deps.settings().askTimeoutAction;
      const decided = await this.decide(due, action);
      if (decided > 0)
        this.deps.log(`ask mode: ${decided} unanswered connection(s) got the timeout action (${action})`);
    }
    this.scheduleDeadline();
  }

  private scheduleDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    const next = this.book.nextDeadline();
    if (next === null || this.stopped) return;
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = null;
        void this.queue.run(() => this.timeOut()).catch((error: Error) => this.deps.log(`ask mode: ${error.message}`));
      },
      Math.min(Math.max(next - Date.now(), 0), MAX_TIMER_MS),
    );
    this.deadlineTimer.unref();
  }

  /** What a previous helper left: pending holds are asked again (their deadlines kept); dead ones go. */
  private async adopt(): Promise<void> {
    const flows = await this.deps.firewall.readHolds(this.deps.decoding);
    const now = Date.now();
    const held: HeldConnection[] = [];
    const dead: HoldRef[] = [];
    for (const flow of flows) {
      if (flow.ref.protocol === 'udp') this.trackUdp(flow.ref);
      if (flow.answer !== null) continue; // answered: the kernel applies it
      const heldAt = Math.round(monotonicToWallMs(flow.heldAtNs, now));
      if (flow.ref.protocol === 'tcp' && now - heldAt > this.holdMs) {
        dead.push(flow.ref); // its hold ended: the connect has failed
        continue;
      }
      const connection: HeldConnection = {
        ref: flow.ref,
        appId: this.deps.appIdOf(flow),
        claimId: flow.claimId,
        pid: flow.tgid,
        uid: flow.uid,
        exe: flow.exe,
        comm: flow.comm,
        remoteAddr: flow.remoteAddr,
        remoteName: this.deps.nameOf(flow.remoteAddr, now),
        remotePort: flow.remotePort,
        protocol: flow.ref.protocol,
        heldAt,
        deadline: heldAt + this.deps.settings().askTimeoutSec * 1000,
      };
      held.push(connection);
    }
    await this.deps.firewall.forgetHolds(dead);
    if (held.length > 0) this.deps.log(`ask mode: ${held.length} connection(s) still held from before: asking again`);
    await this.holdsArrived(held);
  }

  /** Subscribers hear of changes, coalesced. */
  private changed(): void {
    if (this.notifyTimer || this.subscribers.size === 0) return;
    this.notifyTimer = setTimeout(() => {
      this.notifyTimer = null;
      const prompts = this.prompts();
      for (const connection of this.subscribers) {
        if (connection.isOpen) connection.notify('prompts.changed', { prompts });
      }
    }, NOTIFY_MS);
    this.notifyTimer.unref();
  }
}
