// The rules engine: the store is the truth, the kernel maps follow it. Every change runs under one
// lock as: open a transaction, write, make the kernel match, commit — so a client is told "done"
// only when the change is both durable and enforced, and a kernel failure leaves the store as it was.
// The kernel is told only what changed (the entries of the rules written), so a change costs what
// it touches, not what is stored.
import {
  ASK_TIMEOUT_SEC,
  PortcullisError,
  invalidInput,
  locatedIn,
  patchTerms,
  specOf,
  type ParsedDraft,
  type ParsedPatch,
  type Rule,
  type Settings,
} from '../contract/index.js';
import type {
  AppBindingChange,
  AppBindings,
  ApplyStats,
  CompilableRule,
  Counters,
  KernelDefaults,
  KernelRule,
} from '../../native/api.js';
import type { Db } from './store/database.js';
import { RulesStore, type ResolvedSpec } from './store/rules-store.js';
import { ListsStore } from './store/lists-store.js';
import { ListKernelEntries, listDomainRules } from './lists/list-kernel.js';
import { AppsStore } from './apps/apps-store.js';
import { AppRegistry } from './apps/registry.js';
import { AppBinder } from './apps/app-binder.js';
import type { DesktopLookup } from './apps/desktop-entries.js';
import { KeyValueStore } from './store/key-value-store.js';
import { toKernelDefaults, toKernelRules } from './kernel-rules.js';
import { inKernel } from './kernel-error.js';

/** The part of the native Firewall the engine drives. */
export interface KernelFirewall {
  /** Takes out `removed` (objects given before), takes in `added`; all or nothing. */
  changeRules(
    change: { removed: readonly CompilableRule[]; added: readonly CompilableRule[] },
    defaults: KernelDefaults,
  ): Promise<ApplyStats>;
  bindApps(change: AppBindingChange): Promise<void>;
  readCounters(): Promise<Counters>;
}

export const DEFAULT_SETTINGS: Settings = {
  defaultAction: 'allow',
  retentionDays: 30,
  authorizedUsers: [],
  notifyOnFirstBlock: true,
  askTimeoutSec: ASK_TIMEOUT_SEC.default,
  askTimeoutAction: 'block',
};

/** Extra rules computed elsewhere (domain rules resolved to addresses), compiled with the stored ones. */
export type RuleSource = (now: number) => Rule[];

/** Runs async steps one at a time, in call order. */
class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step, step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const NO_DESKTOP_ENTRIES: DesktopLookup = { byId: () => null, byExe: () => null };

function entryKey(e: KernelRule): string {
  return `${e.ruleId} ${e.scope} ${e.family} ${Buffer.from(e.addr).toString('hex')}/${e.prefixLen} ${e.portLo}-${e.portHi} ${e.protocol} ${e.direction} ${e.action}`;
}

/** a then b, without spreading b into arguments (a list's million entries would overflow the stack). */
function joined<T>(a: T[], b: T[]): T[] {
  if (a.length === 0) return b;
  for (let i = 0; i < b.length; i++) a.push(b[i]!);
  return a;
}

export class RulesEngine {
  readonly rules: RulesStore;
  /** Lists (imports, subscriptions, policy): their entries reach the kernel with the rules. */
  readonly lists: ListsStore;
  readonly apps: AppsStore;
  readonly registry: AppRegistry;
  readonly settings: KeyValueStore<Settings>;
  private readonly queue = new SerialQueue();
  private readonly ruleSources: RuleSource[] = [];
  private readonly changeListeners: Array<(ruleCount: number) => void> = [];
  private expiryTimer: NodeJS.Timeout | null = null;
  /** What the kernel knows of the stored apps, kept in step on every change. */
  private readonly binder: AppBinder;
  /** Stored rules as last applied and their kernel entries, by rule id. */
  private readonly appliedStored = new Map<number, { rule: Rule; entries: KernelRule[] }>();
  /** Kernel entries of the rule sources' rules as last applied, by content. */
  private appliedSourced = new Map<string, KernelRule>();
  /** Stored rules whose entries may differ from appliedStored: kept until their change commits. */
  private readonly pending = new Set<number>();
  /** Lists' entries as last applied, and the lists that may differ from it (kept until their change commits). */
  private readonly appliedLists = new ListKernelEntries();
  private readonly pendingLists = new Set<number>();
  private loadedAll = false;
  lastApply: ApplyStats | null = null;
  /** When the last apply finished (ms since epoch); applies the kernel took and refused since start. */
  lastApplyAt: number | null = null;
  applyCount = 0;
  applyFailures = 0;

  /** `desktop`: the desktop entries desktop apps are bound by (their own programs); none by default. */
  constructor(
    private readonly db: Db,
    private readonly firewall: KernelFirewall,
    private readonly log: (message: string) => void,
    desktop: DesktopLookup = NO_DESKTOP_ENTRIES,
  ) {
    this.rules = new RulesStore(db);
    this.lists = new ListsStore(db);
    this.apps = new AppsStore(db);
    this.registry = new AppRegistry(this.apps);
    this.binder = new AppBinder(desktop);
    this.settings = new KeyValueStore<Settings>(db, 'settings', DEFAULT_SETTINGS);
  }

  /** Drops rules that expired while the helper was away, then loads everything into the kernel. */
  async start(): Promise<void> {
    await this.change((now) => this.rules.remove(this.rules.expiredIds(now)));
  }

  stop(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  addRuleSource(source: RuleSource): void {
    this.ruleSources.push(source);
  }

  onRulesChanged(listener: (ruleCount: number) => void): void {
    this.changeListeners.push(listener);
  }

  /**
   * Brings the app bindings in step without touching the rules (classification added apps: their
   * executables are bound, so their next processes are theirs in the kernel from the start).
   */
  syncApps(): Promise<void> {
    return this.queue.run(async () => {
      const plan = this.binder.plan(this.apps.list(), this.rules.appRuleActions());
      if (!plan.change) return;
      await inKernel('binding apps in the kernel failed', () => this.firewall.bindApps(plan.change!));
      plan.done();
    });
  }

  /** Re-applies the kernel state (after a rule source changed). */
  refresh(): Promise<void> {
    return this.change(() => undefined);
  }

  // Drafts and patches arrive parsed (the RPC layer checked them); what is left needs the store or
  // the clock: the app a rule names, and whether its expiry is past. Errors name the draft's field.

  addRule(draft: ParsedDraft): Promise<Rule> {
    return this.change((now) => this.rules.add(this.resolveDraft(draft, now), now));
  }

  /** All or none; a refused draft's error is located at its index ("[3].app"). */
  addRules(drafts: readonly ParsedDraft[]): Promise<Rule[]> {
    return this.change((now) =>
      drafts.map((draft, index) => {
        try {
          return this.rules.add(this.resolveDraft(draft, now), now);
        } catch (error) {
          throw error instanceof PortcullisError ? locatedIn(`[${index}]`, error) : error;
        }
      }),
    );
  }

  // A guard sees the change inside its transaction and may refuse it by throwing (the caller's
  // authority over what the change really does, decided on what is stored at that moment).

  updateRule(id: number, patch: ParsedPatch, guard?: (before: Rule, after: Rule) => void): Promise<Rule> {
    return this.change((now) => {
      const existing = this.rules.get(id);
      if (!existing) throw new PortcullisError('not-found', `there is no rule ${id}`);
      const terms = patchTerms(existing, patch, now);
      if (!terms.ok) throw invalidInput(terms.error);
      const appId = patch.app === undefined ? existing.appId : this.registry.resolve(patch.app, now, 'app');
      guard?.(existing, { ...existing, ...terms.value, appId });
      return this.rules.update(id, { ...terms.value, appId }, now)!;
    });
  }

  removeRules(ids: readonly number[], guard?: (rules: Rule[]) => void): Promise<number[]> {
    return this.change(() => {
      guard?.(ids.map((id) => this.rules.get(id)).filter((rule) => rule !== null));
      return this.rules.remove(ids);
    });
  }

  updateSettings(patch: Partial<Settings>, guard?: (current: Settings) => void): Promise<Settings> {
    return this.change(() => {
      guard?.(this.settings.get());
      return this.settings.set(patch);
    });
  }

  /** Hand-made domain rules and the domain entries of enabled lists: what the DNS side enters addresses for. */
  domainRules(): Rule[] {
    const lists = listDomainRules(this.lists.list());
    return lists.length === 0 ? this.rules.domainRules() : [...this.rules.domainRules(), ...lists];
  }

  async listRules(): Promise<Rule[]> {
    const hits = (await inKernel('reading rule hits failed', () => this.firewall.readCounters())).ruleHits;
    return this.rules.list().map((rule) => ({ ...rule, hits: rule.hits + Number(hits.get(rule.id) ?? 0n) }));
  }

  private resolveDraft(draft: ParsedDraft, now: number): ResolvedSpec {
    const spec = specOf(draft, now);
    if (!spec.ok) throw invalidInput(spec.error);
    const { app, ...terms } = spec.value;
    return { ...terms, appId: this.registry.resolve(app, now, 'app') };
  }

  /**
   * One change: write in a transaction, make the kernel match, commit; undo both on failure. Other
   * areas use it for writes the kernel must follow (an app's default verdict, say).
   */
  transaction<T>(write: (now: number) => T): Promise<T> {
    return this.change(write);
  }

  private change<T>(write: (now: number) => T): Promise<T> {
    return this.queue.run(async () => {
      const now = Date.now();
      this.db.exec('BEGIN IMMEDIATE');
      let result: T;
      const bound: AppBindings = { executables: [], paths: [], cgroups: [], processes: [], units: [] };
      try {
        result = write(now);
        await this.syncKernel(now, bound);
        this.db.exec('COMMIT');
        this.pending.clear();
        this.pendingLists.clear();
      } catch (error) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        this.rules.discardCache();
        this.lists.discardCache();
        // App rows of the failed change are gone (and their ids may be handed out again): unbind them.
        await this.unbind(bound);
        // The kernel may hold part of the failed change: put it back to what the store says.
        await this.syncKernel(Date.now()).catch((syncError: Error) =>
          this.log(`could not restore kernel rules after a failed change: ${syncError.message}`),
        );
        throw error;
      }
      this.scheduleExpiry();
      const count = this.rules.count();
      for (const listener of this.changeListeners) listener(count);
      return result;
    });
  }

  /**
   * Brings the app bindings in step (noting the executables it bound in `bound`), then gives the
   * kernel the entries of the rules written since the last commit (all of them the first time) and
   * of the rule sources, as removed and added entries. After a rollback the same ids are compared
   * again, now with the restored rows, which puts the kernel back.
   */
  private async syncKernel(now: number, bound?: AppBindings): Promise<void> {
    const apps = this.apps.list();
    // Bindings before rules: a per-app rule must find its processes already tagged, and an app that
    // gains an allow rule must lose its claims before the rule applies.
    const plan = this.binder.plan(apps, this.rules.appRuleActions());
    if (plan.change) {
      await inKernel('binding apps in the kernel failed', () => this.firewall.bindApps(plan.change!));
      plan.done();
      if (bound) {
        bound.executables.push(...plan.added.executables);
        bound.paths.push(...plan.added.paths);
        bound.processes.push(...plan.added.processes);
      }
    }
    for (const id of this.rules.takeChanged()) this.pending.add(id);
    if (!this.loadedAll) for (const rule of this.rules.list()) this.pending.add(rule.id);
    const removed: CompilableRule[] = [];
    const added: CompilableRule[] = [];
    for (const id of this.lists.takeChanged()) this.pendingLists.add(id);
    if (!this.loadedAll) for (const list of this.lists.list()) this.pendingLists.add(list.id);
    const lists = await this.appliedLists.change(this.pendingLists, (id) => this.lists.get(id));
    const stored = new Map<number, { rule: Rule; entries: KernelRule[] } | null>();
    for (const id of this.pending) {
      const rule = this.rules.get(id);
      const before = this.appliedStored.get(id);
      if (rule && before?.rule === rule) continue; // stored rules are immutable values, replaced on change
      const entries = rule ? toKernelRules([rule], now) : [];
      if (before) removed.push(...before.entries);
      added.push(...entries);
      stored.set(id, rule && entries.length > 0 ? { rule, entries } : null);
    }
    // Rule sources (domain rules' addresses) are few and made anew each time: equal content keeps the entry.
    const sourced = new Map<string, KernelRule>();
    for (const entry of toKernelRules(
      this.ruleSources.flatMap((source) => source(now)),
      now,
    )) {
      const key = entryKey(entry);
      if (!sourced.has(key)) sourced.set(key, this.appliedSourced.get(key) ?? entry);
    }
    for (const [key, entry] of this.appliedSourced) if (!sourced.has(key)) removed.push(entry);
    for (const [key, entry] of sourced) if (!this.appliedSourced.has(key)) added.push(entry);
    const defaults = toKernelDefaults(this.settings.get().defaultAction, apps);
    try {
      this.lastApply = await inKernel('the kernel refused the rules', () =>
        this.firewall.changeRules(
          { removed: joined(removed, lists.removed), added: joined(added, lists.added) },
          defaults,
        ),
      );
    } catch (error) {
      this.applyFailures++;
      throw error;
    }
    this.lastApplyAt = Date.now();
    this.applyCount++;
    lists.commit();
    for (const [id, applied] of stored) {
      if (applied) this.appliedStored.set(id, applied);
      else this.appliedStored.delete(id);
    }
    this.appliedSourced = sourced;
    this.loadedAll = true;
  }

  private async unbind(bindings: AppBindings): Promise<void> {
    // Unit names and claims follow the restored rules at the next sync (the binder forgets them).
    this.binder.forget([...bindings.executables, ...bindings.paths, ...bindings.processes].map((b) => b.appId));
    if (bindings.executables.length === 0 && bindings.paths.length === 0 && bindings.processes.length === 0) return;
    try {
      await this.firewall.bindApps({ remove: bindings });
    } catch (error) {
      this.log(`could not unbind apps of a failed change: ${(error as Error).message}`);
    }
  }

  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    const next = this.rules.nextExpiry();
    if (next === null) return;
    const delay = Math.min(Math.max(next - Date.now(), 0), MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.change((now) => {
        const removed = this.rules.remove(this.rules.expiredIds(now));
        if (removed.length > 0) this.log(`expired rule(s) ${removed.join(', ')}`);
      }).catch((error: Error) => this.log(`expiring rules failed: ${error.message}`));
    }, delay);
    this.expiryTimer.unref();
  }
}
