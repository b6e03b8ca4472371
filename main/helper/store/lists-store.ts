// Lists in SQLite. A list's entries are one document (their canonical remotes, one per line, and
// their rule ids as runs), not a row each: a list is written, toggled, diffed and dropped whole,
// and a million rows cost seconds to insert and to delete where one value of 14 MB costs a write.
// Entry ids come from the rules' own sequence, so a decision's rule id names one rule or one entry.
import type { Action, Direction, ListKind, RuleList, SubscriptionStatus } from '../../contract/index.js';
import { MAX_ID, PortcullisError } from '../../contract/index.js';
import type { Db } from './database.js';

/** A subscription as stored: what clients see plus what the next conditional request sends. */
export interface StoredSubscription extends SubscriptionStatus {
  etag: string | null;
  lastModified: string | null;
}

/** A list and its entries, as the helper holds it. Values are replaced on change, never mutated. */
export interface StoredList {
  readonly id: number;
  readonly name: string;
  readonly kind: ListKind;
  readonly source: string;
  readonly action: Action;
  readonly appId: number | null;
  readonly direction: Direction;
  readonly note: string;
  readonly enabled: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly subscription: StoredSubscription | null;
  readonly managedBy: string | null;
  /** Entry rule ids, ascending, beside their remotes. */
  readonly ids: Uint32Array;
  readonly remotes: readonly string[];
  /** An allow list's entries waiting for review (no ids yet: they get theirs when accepted). */
  readonly pending: readonly string[];
}

export type NewList = Pick<
  StoredList,
  'name' | 'kind' | 'source' | 'action' | 'appId' | 'direction' | 'note' | 'enabled' | 'subscription' | 'managedBy'
>;
export type ListChanges = Partial<
  Pick<StoredList, 'name' | 'note' | 'enabled' | 'subscription' | 'source' | 'ids' | 'remotes' | 'pending'>
>;

interface ListRow {
  id: number;
  name: string;
  kind: ListKind;
  source: string;
  action: Action;
  app_id: number | null;
  direction: Direction;
  note: string;
  enabled: number;
  created_at: number;
  updated_at: number;
  subscription: string | null;
  managed_by: string | null;
  remotes: string;
  ids: Buffer;
  pending: string;
}

export const listsMigration = {
  description: 'lists (imports, subscriptions, policy) with their entries as one document each; managed rules',
  up(db: Db): void {
    db.exec(`
      CREATE TABLE rule_lists (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('import', 'subscription', 'policy')),
        source TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
        app_id INTEGER REFERENCES apps(id),
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in', 'both')),
        note TEXT NOT NULL DEFAULT '',
        enabled INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        subscription TEXT,               -- JSON: url, schedule, last outcome, validators
        managed_by TEXT                  -- the policy file, for managed lists
      );
      -- Apart from the lists, so listing them reads no entries.
      CREATE TABLE rule_list_entries (
        list_id INTEGER PRIMARY KEY REFERENCES rule_lists(id) ON DELETE CASCADE,
        remotes TEXT NOT NULL,           -- canonical remotes, one per line, in id order
        ids BLOB NOT NULL,               -- their rule ids as runs: u32 LE pairs (first id, count)
        pending TEXT NOT NULL DEFAULT '' -- allow lists: entries waiting for review, one per line
      );
      -- Rules written by a policy file carry its name; clients cannot change them.
      ALTER TABLE rules ADD COLUMN managed_by TEXT;
    `);
  },
};

/** Ascending ids as runs of consecutive ids: (first, count) pairs, little-endian u32. */
export function encodeIdRuns(ids: Uint32Array): Buffer {
  const runs: number[] = [];
  for (let i = 0; i < ids.length; ) {
    let j = i + 1;
    while (j < ids.length && ids[j] === ids[j - 1]! + 1) j++;
    runs.push(ids[i]!, j - i);
    i = j;
  }
  const out = Buffer.alloc(runs.length * 4);
  runs.forEach((value, i) => out.writeUInt32LE(value, i * 4));
  return out;
}

export function decodeIdRuns(blob: Buffer): Uint32Array {
  let total = 0;
  for (let at = 4; at < blob.length; at += 8) total += blob.readUInt32LE(at);
  const ids = new Uint32Array(total);
  let n = 0;
  for (let at = 0; at + 8 <= blob.length; at += 8) {
    const first = blob.readUInt32LE(at);
    const count = blob.readUInt32LE(at + 4);
    for (let k = 0; k < count; k++) ids[n++] = first + k;
  }
  return ids;
}

const lines = (text: string): string[] => (text === '' ? [] : text.split('\n'));

function rowToList(row: ListRow): StoredList {
  const remotes = lines(row.remotes);
  const ids = decodeIdRuns(row.ids);
  // Written together in one statement; apart, they are a bug or tampering.
  if (ids.length !== remotes.length)
    throw new Error(`stored list ${row.id} has ${remotes.length} entries but ${ids.length} ids`);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    source: row.source,
    action: row.action,
    appId: row.app_id,
    direction: row.direction,
    note: row.note,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    subscription: row.subscription === null ? null : (JSON.parse(row.subscription) as StoredSubscription),
    managedBy: row.managed_by,
    ids,
    remotes,
    pending: lines(row.pending),
  };
}

/** What clients see of a list. */
export function listView(list: StoredList): RuleList {
  const { ids: _ids, remotes, pending, subscription, ...rest } = list;
  return {
    ...rest,
    entryCount: remotes.length,
    pendingCount: pending.length,
    subscription: subscription && {
      url: subscription.url,
      format: subscription.format,
      everyMs: subscription.everyMs,
      lastCheckAt: subscription.lastCheckAt,
      lastSuccessAt: subscription.lastSuccessAt,
      nextCheckAt: subscription.nextCheckAt,
      error: subscription.error,
    },
  };
}

/**
 * Lists in SQLite with an in-memory copy (entries included: the kernel needs them on every start).
 * Writes go through the engine's transaction; after a rollback the copy is discarded and read again.
 * Ids of lists written since the last takeChanged are noted for the engine.
 */
export class ListsStore {
  private cache: Map<number, StoredList> | null = null;
  private changed = new Set<number>();
  private readonly insertList;
  private readonly insertEntries;
  private readonly updateList;
  private readonly updateEntries;
  private readonly deleteList;
  private readonly selectAll;
  private readonly selectSequence;
  private readonly insertSequence;
  private readonly updateSequence;

  constructor(private readonly db: Db) {
    this.insertList = db.prepare(
      `INSERT INTO rule_lists (name, kind, source, action, app_id, direction, note, enabled, created_at, updated_at, subscription, managed_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertEntries = db.prepare(
      'INSERT INTO rule_list_entries (list_id, remotes, ids, pending) VALUES (?, ?, ?, ?)',
    );
    this.updateList = db.prepare(
      'UPDATE rule_lists SET name = ?, source = ?, note = ?, enabled = ?, updated_at = ?, subscription = ? WHERE id = ?',
    );
    this.updateEntries = db.prepare('UPDATE rule_list_entries SET remotes = ?, ids = ?, pending = ? WHERE list_id = ?');
    this.deleteList = db.prepare('DELETE FROM rule_lists WHERE id = ?');
    this.selectAll = db.prepare<[], ListRow>(
      `SELECT l.*, e.remotes, e.ids, e.pending FROM rule_lists l JOIN rule_list_entries e ON e.list_id = l.id ORDER BY l.id`,
    );
    this.selectSequence = db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'rules'");
    this.insertSequence = db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('rules', ?)");
    this.updateSequence = db.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'rules'");
  }

  list(): StoredList[] {
    return [...this.loaded().values()];
  }

  get(id: number): StoredList | null {
    return this.loaded().get(id) ?? null;
  }

  byName(name: string): StoredList | null {
    for (const list of this.loaded().values()) if (list.name === name) return list;
    return null;
  }

  /** Entries of every list. */
  entryCount(): number {
    let n = 0;
    for (const list of this.loaded().values()) n += list.remotes.length;
    return n;
  }

  create(fields: NewList, now: number): StoredList {
    const info = this.insertList.run(
      fields.name,
      fields.kind,
      fields.source,
      fields.action,
      fields.appId,
      fields.direction,
      fields.note,
      fields.enabled ? 1 : 0,
      now,
      now,
      fields.subscription === null ? null : JSON.stringify(fields.subscription),
      fields.managedBy,
    );
    const id = Number(info.lastInsertRowid);
    this.insertEntries.run(id, '', Buffer.alloc(0), '');
    return this.remember({
      ...fields,
      id,
      createdAt: now,
      updatedAt: now,
      ids: new Uint32Array(0),
      remotes: [],
      pending: [],
    });
  }

  /** Changes a list; entries are rewritten only when the change names them. */
  change(id: number, changes: ListChanges, now: number): StoredList {
    const before = this.get(id);
    if (!before) throw new PortcullisError('not-found', `there is no list ${id}`);
    const after: StoredList = { ...before, ...changes, updatedAt: now };
    if (after.ids.length !== after.remotes.length)
      throw new Error(`list ${id}: ${after.remotes.length} entries given with ${after.ids.length} ids`);
    this.updateList.run(
      after.name,
      after.source,
      after.note,
      after.enabled ? 1 : 0,
      now,
      after.subscription === null ? null : JSON.stringify(after.subscription),
      id,
    );
    if (changes.ids || changes.remotes || changes.pending)
      this.updateEntries.run(after.remotes.join('\n'), encodeIdRuns(after.ids), after.pending.join('\n'), id);
    // Names, notes and a subscription's bookkeeping are nothing to the kernel.
    const forKernel = changes.ids !== undefined || changes.remotes !== undefined || changes.enabled !== undefined;
    return this.remember(after, forKernel);
  }

  remove(id: number): boolean {
    if (this.deleteList.run(id).changes === 0) return false;
    this.cache?.delete(id);
    this.changed.add(id);
    return true;
  }

  /**
   * `count` rule ids no rule or entry has had, taken from the rules' own sequence (AUTOINCREMENT
   * then continues after them): returns the first. Inside the caller's transaction.
   */
  reserveIds(count: number): number {
    const row = this.selectSequence.get();
    const last = row?.seq ?? 0;
    if (last + count > MAX_ID)
      throw new PortcullisError('invalid-input', `rule ids would pass ${MAX_ID}; remove lists or rules first`);
    if (row) this.updateSequence.run(last + count);
    else this.insertSequence.run(last + count);
    return last + 1;
  }

  /** Ids of lists written since the last call. */
  takeChanged(): Set<number> {
    const changed = this.changed;
    this.changed = new Set();
    return changed;
  }

  /** Forgets the in-memory copy (after a rollback); the next read loads it from the database. */
  discardCache(): void {
    this.cache = null;
  }

  private loaded(): Map<number, StoredList> {
    if (!this.cache) this.cache = new Map(this.selectAll.all().map((row) => [row.id, rowToList(row)]));
    return this.cache;
  }

  private remember(list: StoredList, forKernel = true): StoredList {
    if (forKernel) this.changed.add(list.id);
    if (this.cache) this.cache.set(list.id, list);
    else this.loaded();
    return list;
  }
}
