// Subscriptions: lists the helper fetches from a URL on a schedule. Each update is one diff applied
// in one change (entries still listed keep their ids and kernel rules); a download that fails, or
// that does not look like the list it was, keeps the last good copy and records why. Updates of
// one list never overlap; a timer wakes for the next one due.
import {
  DEFAULT_EVERY_MS,
  ListParser,
  PortcullisError,
  listNameFromSource,
  type Action,
  type LineFormat,
} from '../../contract/index.js';
import type { RulesEngine } from '../engine.js';
import type { StoredList, StoredSubscription } from '../store/lists-store.js';
import { fetchList, type FetchOptions } from './list-fetch.js';
import { newSubscription, replaceEntries, targetList } from './list-entries.js';
import { RemoteSet } from './remote-set.js';

/** After a failure the next try comes sooner than the schedule, but not in a loop. */
const RETRY_MS = 30 * 60_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Subscribe {
  url: string;
  name?: string;
  format?: LineFormat;
  action?: Action;
  every?: number;
}

/** What one update did, for the caller and the log. */
export interface UpdateOutcome {
  list: StoredList;
  /** 'changed' (a diff applied), 'unchanged' (304, or the same entries), 'failed' (the last good copy stays). */
  result: 'changed' | 'unchanged' | 'failed';
  added: number;
  removed: number;
  error: string | null;
}

export class Subscriptions {
  private timer: NodeJS.Timeout | null = null;
  private readonly inFlight = new Map<number, Promise<UpdateOutcome>>();
  private stopped = false;

  constructor(
    private readonly engine: RulesEngine,
    private readonly log: (message: string) => void,
    private readonly fetchOptions: FetchOptions = {},
  ) {}

  /**
   * Starts the schedule: lists due (or overdue after the helper was away) are fetched soon. Any
   * change of the lists resets the timer, so a subscription that came in a document is fetched too.
   */
  start(): void {
    this.engine.onRulesChanged(() => this.schedule());
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Makes a subscription and fetches it once; the list stays (and retries) when that first fetch fails. */
  async add(request: Subscribe): Promise<UpdateOutcome> {
    const name = request.name ?? listNameFromSource(request.url);
    const list = await this.engine.transaction((now) => {
      if (this.engine.lists.byName(name))
        throw new PortcullisError(
          'invalid-input',
          `params.name: there is already a list "${name}"; give another --name`,
          {
            where: 'params.name',
          },
        );
      return targetList(
        this.engine,
        {
          name,
          kind: 'subscription',
          source: request.url,
          action: request.action ?? 'block',
          app: null,
          direction: 'both',
          note: '',
          subscription: newSubscription(request.url, request.format ?? 'auto', request.every ?? DEFAULT_EVERY_MS, now),
        },
        now,
      );
    });
    return this.update(list.id);
  }

  /** Fetches one subscription now (joining an update already running). */
  update(id: number): Promise<UpdateOutcome> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const update = this.fetchAndApply(id).finally(() => {
      this.inFlight.delete(id);
      this.schedule();
    });
    this.inFlight.set(id, update);
    return update;
  }

  /** Fetches every subscription now, one after another. */
  async updateAll(): Promise<UpdateOutcome[]> {
    const outcomes: UpdateOutcome[] = [];
    for (const list of this.engine.lists.list()) if (list.subscription) outcomes.push(await this.update(list.id));
    return outcomes;
  }

  private async fetchAndApply(id: number): Promise<UpdateOutcome> {
    const list = this.engine.lists.get(id);
    if (!list?.subscription) throw new PortcullisError('invalid-input', `list ${id} is not a subscription`);
    const sub = list.subscription;
    const fetched = await fetchList(sub.url, { etag: sub.etag, lastModified: sub.lastModified }, this.fetchOptions);
    let outcome: UpdateOutcome;
    if (fetched.kind === 'failed') outcome = await this.failed(id, fetched.error);
    else if (fetched.kind === 'not-modified') {
      const kept = await this.engine.transaction((now) =>
        this.record(id, now, { lastSuccessAt: now, error: null, nextCheckAt: now + sub.everyMs }),
      );
      outcome = { list: kept, result: 'unchanged', added: 0, removed: 0, error: null };
    } else {
      const parsed = parse(fetched.text, sub.format);
      if (parsed.malformed) outcome = await this.failed(id, parsed.malformed);
      else {
        outcome = await this.engine.transaction((now) => {
          const current = this.engine.lists.get(id);
          if (!current?.subscription) throw new PortcullisError('not-found', `list ${id} went while it was fetched`);
          // A policy file's list is root's word: its updates need no review by people who cannot give it.
          const written = replaceEntries(this.engine, current, parsed.entries, now, current.managedBy === null);
          const updated = this.record(id, now, {
            lastSuccessAt: now,
            error: null,
            nextCheckAt: now + sub.everyMs,
            etag: fetched.validators.etag,
            lastModified: fetched.validators.lastModified,
          });
          return {
            list: updated,
            result: written.added + written.removed > 0 ? 'changed' : 'unchanged',
            added: written.added,
            removed: written.removed,
            error: null,
          } as const;
        });
      }
    }
    this.log(
      `list ${id} "${outcome.list.name}": ${outcome.result}${outcome.result === 'changed' ? ` (+${outcome.added} -${outcome.removed}, ${outcome.list.remotes.length} entries)` : ''}${outcome.error ? `: ${outcome.error}; the last good copy stays` : ''}`,
    );
    return outcome;
  }

  private async failed(id: number, error: string): Promise<UpdateOutcome> {
    const list = await this.engine.transaction((now) => {
      const every = this.engine.lists.get(id)?.subscription?.everyMs ?? DEFAULT_EVERY_MS;
      return this.record(id, now, { error, nextCheckAt: now + Math.min(every, RETRY_MS) });
    });
    return { list, result: 'failed', added: 0, removed: 0, error };
  }

  /** Notes an attempt in the list's subscription (inside the caller's transaction). */
  private record(id: number, now: number, changes: Partial<StoredSubscription>): StoredList {
    const list = this.engine.lists.get(id);
    if (!list?.subscription) throw new PortcullisError('not-found', `list ${id} went while it was fetched`);
    return this.engine.lists.change(id, { subscription: { ...list.subscription, lastCheckAt: now, ...changes } }, now);
  }

  /** Sets the timer for the next subscription due. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    let next: number | null = null;
    for (const list of this.engine.lists.list()) {
      const due = list.subscription?.nextCheckAt;
      if (due !== undefined && due !== null && !this.inFlight.has(list.id) && (next === null || due < next)) next = due;
    }
    if (next === null) return;
    this.timer = setTimeout(() => void this.runDue(), Math.min(Math.max(next - Date.now(), 0), MAX_TIMER_MS));
    this.timer.unref();
  }

  private async runDue(): Promise<void> {
    this.timer = null;
    const now = Date.now();
    for (const list of this.engine.lists.list()) {
      const due = list.subscription?.nextCheckAt;
      if (due === undefined || due === null || due > now) continue;
      await this.update(list.id).catch((error: Error) => this.log(`updating list ${list.id} failed: ${error.message}`));
    }
    this.schedule();
  }
}

/**
 * A download's entries, or why it does not look like the list: a page of HTML or an error message
 * served with 200 is mostly lines that are no entries, and must not replace a good copy.
 */
export function parse(text: string, format: LineFormat): { entries: string[]; malformed: string | null } {
  const parser = new ListParser(format);
  parser.push(text);
  parser.end();
  const seen = new RemoteSet();
  const entries = parser.entries.filter((remote) => seen.add(remote));
  if (parser.skippedCount > 0 && parser.skippedCount >= parser.entries.length) {
    const first = parser.skipped[0]!;
    return {
      entries,
      malformed: `the download does not look like a list: ${parser.skippedCount} of ${parser.skippedCount + parser.entries.length} lines are not entries (line ${first.line}: "${first.text.slice(0, 60)}": ${first.reason})`,
    };
  }
  return { entries, malformed: null };
}
