// Writing a list's entries, inside the caller's engine transaction: adding what an import brings,
// or replacing them with what a subscription's new download holds (a diff: entries still there
// keep their rule ids, so the kernel is told only what came and went). An allow list never opens
// the firewall on its own: its new entries wait for review while it is enabled.
import {
  PortcullisError,
  describeRule,
  type Action,
  type AppSelector,
  type Direction,
  type LineFormat,
  type ListKind,
} from '../../contract/index.js';
import type { RulesEngine } from '../engine.js';
import type { StoredList, StoredSubscription } from '../store/lists-store.js';
import { RemoteSet } from './remote-set.js';

/** Where entries go: the list of this name, made with these terms when it does not exist. */
export interface ListTarget {
  name: string;
  kind: ListKind;
  source: string;
  action: Action;
  app: AppSelector;
  direction: Direction;
  note: string;
  subscription?: StoredSubscription | null;
  managedBy?: string | null;
}

export interface EntriesWritten {
  list: StoredList;
  added: number;
  alreadyPresent: number;
  removed: number;
}

/** Most entries one list holds: its ids are u32s and all of it sits in the helper's memory. */
export const MAX_LIST_ENTRIES = 5_000_000;

function describeTerms(list: Pick<StoredList, 'action' | 'appId' | 'direction'>): string {
  return describeRule({ ...list, remote: { kind: 'any' }, ports: null, protocol: 'any' }).replace(' any', '');
}

/** The list a target names, made when missing; an existing one must be of the same kind and terms. */
export function targetList(engine: RulesEngine, target: ListTarget, now: number): StoredList {
  const appId = engine.registry.resolve(target.app, now, 'app');
  const existing = engine.lists.byName(target.name);
  if (!existing) {
    return engine.lists.create(
      {
        name: target.name,
        kind: target.kind,
        source: target.source,
        action: target.action,
        appId,
        direction: target.direction,
        note: target.note,
        // An allow list is enforced only once someone has looked at it (enabling it is that review).
        enabled: target.action === 'block',
        subscription: target.subscription ?? null,
        managedBy: target.managedBy ?? null,
      },
      now,
    );
  }
  if (existing.kind !== target.kind)
    throw new PortcullisError(
      'invalid-input',
      `list: "${target.name}" is a ${existing.kind} list; ${target.kind === 'import' ? 'import into' : 'use'} another name`,
      { where: 'list' },
    );
  if (existing.managedBy !== (target.managedBy ?? null)) {
    if (existing.managedBy !== null) throw managed(existing);
    throw new PortcullisError(
      'invalid-input',
      `list: "${target.name}" is a list people made; the policy file ${target.managedBy} needs another list name`,
      { where: 'list' },
    );
  }
  const wanted = { action: target.action, appId, direction: target.direction };
  if (describeTerms(existing) !== describeTerms(wanted))
    throw new PortcullisError(
      'invalid-input',
      `list: "${target.name}" holds entries to ${describeTerms(existing)}; these would ${describeTerms(wanted)} (give another list name)`,
      { where: 'list' },
    );
  return existing;
}

export function managed(list: StoredList): PortcullisError {
  return new PortcullisError(
    'invalid-input',
    `list "${list.name}" is managed by the policy file ${list.managedBy}; change it there`,
    { where: 'list' },
  );
}

/** Adds the entries a list does not hold yet (`entries` are canonical and free of repeats). */
export function addEntries(
  engine: RulesEngine,
  list: StoredList,
  entries: readonly string[],
  now: number,
): EntriesWritten {
  const held = list.remotes.length + list.pending.length > 0 ? new RemoteSet() : null;
  if (held) for (const remote of [...list.remotes, ...list.pending]) held.add(remote);
  const fresh = held ? entries.filter((remote) => !held.has(remote)) : entries;
  const alreadyPresent = entries.length - fresh.length;
  if (fresh.length === 0) return { list, added: 0, alreadyPresent, removed: 0 };
  checkSize(list, list.remotes.length + list.pending.length + fresh.length);
  // An enabled allow list enforces what was reviewed; what comes later waits.
  if (list.action === 'allow' && list.enabled) {
    const changed = engine.lists.change(list.id, { pending: [...list.pending, ...fresh] }, now);
    return { list: changed, added: fresh.length, alreadyPresent, removed: 0 };
  }
  const first = engine.lists.reserveIds(fresh.length);
  const ids = new Uint32Array(list.ids.length + fresh.length);
  ids.set(list.ids);
  for (let k = 0; k < fresh.length; k++) ids[list.ids.length + k] = first + k;
  const remotes = list.remotes.length === 0 ? [...fresh] : list.remotes.concat(fresh);
  const changed = engine.lists.change(list.id, { ids, remotes }, now);
  return { list: changed, added: fresh.length, alreadyPresent, removed: 0 };
}

/** A subscription not fetched yet: due at once. */
export function newSubscription(url: string, format: LineFormat, everyMs: number, now: number): StoredSubscription {
  return {
    url,
    format,
    everyMs,
    lastCheckAt: null,
    lastSuccessAt: null,
    nextCheckAt: now,
    error: null,
    etag: null,
    lastModified: null,
  };
}

/**
 * Makes a list hold exactly `entries` (canonical, free of repeats): entries it keeps keep their ids,
 * new ones get new ids (or, for an enabled allow list, wait for review), the rest go. A policy
 * file's allow list is an administrator's own word: `review: false` enforces its entries at once.
 */
export function replaceEntries(
  engine: RulesEngine,
  list: StoredList,
  entries: readonly string[],
  now: number,
  review = true,
): EntriesWritten {
  checkSize(list, entries.length);
  const wanted = new RemoteSet();
  for (const remote of entries) wanted.add(remote);
  const ids: number[] = [];
  const remotes: string[] = [];
  const kept = new RemoteSet();
  for (let i = 0; i < list.remotes.length; i++) {
    const remote = list.remotes[i]!;
    if (!wanted.has(remote)) continue;
    ids.push(list.ids[i]!);
    remotes.push(remote);
    kept.add(remote);
  }
  const removed = list.remotes.length - remotes.length;
  const fresh = entries.filter((remote) => !kept.has(remote));
  const waits = review && list.action === 'allow' && list.enabled;
  const pendingBefore = new RemoteSet();
  for (const remote of list.pending) pendingBefore.add(remote);
  const added = fresh.filter((remote) => !pendingBefore.has(remote)).length;
  if (waits) {
    const changed = engine.lists.change(list.id, { ids: Uint32Array.from(ids), remotes, pending: fresh.slice() }, now);
    return { list: changed, added, alreadyPresent: entries.length - fresh.length, removed };
  }
  const first = fresh.length > 0 ? engine.lists.reserveIds(fresh.length) : 0;
  for (let k = 0; k < fresh.length; k++) {
    ids.push(first + k);
    remotes.push(fresh[k]!);
  }
  const changed = engine.lists.change(list.id, { ids: Uint32Array.from(ids), remotes, pending: [] }, now);
  return { list: changed, added, alreadyPresent: entries.length - fresh.length, removed };
}

/** Enables a list; an allow list's entries waiting for review are accepted with it. */
export function enableList(engine: RulesEngine, list: StoredList, now: number): StoredList {
  if (list.pending.length === 0) return engine.lists.change(list.id, { enabled: true }, now);
  const first = engine.lists.reserveIds(list.pending.length);
  const ids = new Uint32Array(list.ids.length + list.pending.length);
  ids.set(list.ids);
  for (let k = 0; k < list.pending.length; k++) ids[list.ids.length + k] = first + k;
  return engine.lists.change(
    list.id,
    { enabled: true, ids, remotes: list.remotes.concat(list.pending), pending: [] },
    now,
  );
}

function checkSize(list: StoredList, size: number): void {
  if (size > MAX_LIST_ENTRIES)
    throw new PortcullisError(
      'invalid-input',
      `list "${list.name}" would hold ${size} entries; one list holds at most ${MAX_LIST_ENTRIES}`,
      { where: 'list' },
    );
}
