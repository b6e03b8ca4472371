// Rules in SQLite. Rows hold the canonical remote text; reading parses it back with the contract's
// parser, so there is one definition of what a remote is.
import { formatRemote, parseRemote, type Rule, type RuleSpec } from '../../contract/index.js';
import type { Db } from './database.js';

/** A spec whose app selector has been resolved to an app id (or null for every app). */
export type ResolvedSpec = Omit<RuleSpec, 'app'> & { appId: number | null };

interface RuleRow {
  id: number;
  action: 'block' | 'allow';
  app_id: number | null;
  remote: string;
  port_from: number | null;
  port_to: number | null;
  protocol: Rule['protocol'];
  direction: Rule['direction'];
  expires_at: number | null;
  note: string;
  enabled: number;
  created_at: number;
  updated_at: number;
  hits: number;
  managed_by: string | null;
}

function rowToRule(row: RuleRow): Rule {
  const remote = parseRemote(row.remote, `rules[${row.id}].remote`);
  // Rows are only ever written from validated specs; a row that does not parse is a bug or tampering.
  if (!remote.ok) throw new Error(`stored rule ${row.id} has an unreadable remote: ${remote.error.message}`);
  return {
    id: row.id,
    action: row.action,
    appId: row.app_id,
    remote: remote.value,
    ports: row.port_from === null || row.port_to === null ? null : { from: row.port_from, to: row.port_to },
    protocol: row.protocol,
    direction: row.direction,
    expiresAt: row.expires_at,
    note: row.note,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    hits: row.hits,
    ...(row.managed_by !== null ? { managedBy: row.managed_by } : {}),
  };
}

function specColumns(spec: ResolvedSpec) {
  return {
    action: spec.action,
    app_id: spec.appId,
    remote: formatRemote(spec.remote),
    port_from: spec.ports?.from ?? null,
    port_to: spec.ports?.to ?? null,
    protocol: spec.protocol,
    direction: spec.direction,
    expires_at: spec.expiresAt,
    note: spec.note,
    enabled: spec.enabled ? 1 : 0,
  };
}

/**
 * The rule a row written from this spec reads back as (its remote already canonical): built without
 * reading the row back and parsing it again, which was a good part of a bulk import's time.
 */
function ruleOf(
  id: number,
  spec: ResolvedSpec,
  bookkeeping: Pick<Rule, 'createdAt' | 'updatedAt' | 'hits' | 'managedBy'>,
): Rule {
  return {
    id,
    action: spec.action,
    appId: spec.appId,
    remote: spec.remote,
    ports: spec.ports ? { from: spec.ports.from, to: spec.ports.to } : null,
    protocol: spec.protocol,
    direction: spec.direction,
    expiresAt: spec.expiresAt,
    note: spec.note,
    enabled: spec.enabled,
    createdAt: bookkeeping.createdAt,
    updatedAt: bookkeeping.updatedAt,
    hits: bookkeeping.hits,
    ...(bookkeeping.managedBy !== undefined ? { managedBy: bookkeeping.managedBy } : {}),
  };
}

/**
 * Rules in SQLite with an in-memory copy for reads (re-reading and re-parsing every row made large
 * rulesets slow). The copy follows each write; after a rolled-back transaction the caller discards
 * it and it is read again. Ids written since the last `takeChanged` are noted, so the engine
 * brings the kernel up to date rule by rule instead of recompiling them all.
 */
export class RulesStore {
  private cache: Map<number, Rule> | null = null;
  private changed = new Set<number>();
  /** Ids of domain rules in the copy: the DNS side asks for them on every change. */
  private domainIds = new Set<number>();
  /** Ids of rules of one app in the copy: what app bindings may claim follows them on every change. */
  private appIds = new Set<number>();
  private readonly insertRow;
  private readonly updateRow;
  private readonly selectAll;
  private readonly selectOne;
  private readonly deleteOne;
  private readonly selectExpired;
  private readonly selectNextExpiry;
  private readonly countRows;

  constructor(private readonly db: Db) {
    // Positional, not named, parameters: binding an object by names measured a good part of a bulk import.
    this.insertRow =
      db.prepare(`INSERT INTO rules (action, app_id, remote, port_from, port_to, protocol, direction, expires_at, note, enabled, created_at, updated_at, managed_by)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.updateRow =
      db.prepare(`UPDATE rules SET action = @action, app_id = @app_id, remote = @remote, port_from = @port_from, port_to = @port_to,
      protocol = @protocol, direction = @direction, expires_at = @expires_at, note = @note, enabled = @enabled, updated_at = @now WHERE id = @id`);
    this.selectAll = db.prepare<[], RuleRow>('SELECT * FROM rules ORDER BY id');
    this.selectOne = db.prepare<[number], RuleRow>('SELECT * FROM rules WHERE id = ?');
    this.deleteOne = db.prepare('DELETE FROM rules WHERE id = ?');
    this.selectExpired = db.prepare<[number], { id: number }>(
      'SELECT id FROM rules WHERE expires_at IS NOT NULL AND expires_at <= ?',
    );
    this.selectNextExpiry = db.prepare<[], { next: number | null }>(
      'SELECT MIN(expires_at) AS next FROM rules WHERE expires_at IS NOT NULL',
    );
    this.countRows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM rules');
  }

  /** `managedBy`: the policy file writing the rule (null: a person). */
  add(spec: ResolvedSpec, now: number, managedBy: string | null = null): Rule {
    const c = specColumns(spec);
    const info = this.insertRow.run(
      c.action,
      c.app_id,
      c.remote,
      c.port_from,
      c.port_to,
      c.protocol,
      c.direction,
      c.expires_at,
      c.note,
      c.enabled,
      now,
      now,
      managedBy,
    );
    const id = Number(info.lastInsertRowid);
    this.changed.add(id);
    return this.remember(
      ruleOf(id, spec, { createdAt: now, updatedAt: now, hits: 0, ...(managedBy !== null ? { managedBy } : {}) }),
    );
  }

  update(id: number, spec: ResolvedSpec, now: number): Rule | null {
    const before = this.get(id);
    if (!before || this.updateRow.run({ ...specColumns(spec), now, id }).changes === 0) return null;
    this.changed.add(id);
    return this.remember(
      ruleOf(id, spec, {
        createdAt: before.createdAt,
        updatedAt: now,
        hits: before.hits,
        ...(before.managedBy !== undefined ? { managedBy: before.managedBy } : {}),
      }),
    );
  }

  get(id: number): Rule | null {
    return this.cache ? (this.cache.get(id) ?? null) : this.read(id);
  }

  /** Every rule, by id. */
  list(): Rule[] {
    return [...this.loaded().values()];
  }

  /** The domain rules, by id: as list() filtered to them, at a cost that follows their number. */
  domainRules(): Rule[] {
    const cache = this.loaded();
    return [...this.domainIds].sort((a, b) => a - b).map((id) => cache.get(id)!);
  }

  /**
   * The actions of each app's own enabled rules (apps with none are absent), at a cost that follows
   * their number.
   */
  appRuleActions(): Map<number, { allows: boolean; blocks: boolean }> {
    const cache = this.loaded();
    const actions = new Map<number, { allows: boolean; blocks: boolean }>();
    for (const id of this.appIds) {
      const rule = cache.get(id)!;
      if (!rule.enabled || rule.appId === null) continue;
      const seen = actions.get(rule.appId) ?? { allows: false, blocks: false };
      if (rule.action === 'allow') seen.allows = true;
      else seen.blocks = true;
      actions.set(rule.appId, seen);
    }
    return actions;
  }

  count(): number {
    return this.cache ? this.cache.size : this.countRows.get()!.n;
  }

  /** Removes the rules that exist; returns their ids. */
  remove(ids: readonly number[]): number[] {
    const removed = ids.filter((id) => this.deleteOne.run(id).changes > 0);
    for (const id of removed) {
      this.cache?.delete(id);
      this.domainIds.delete(id);
      this.appIds.delete(id);
      this.changed.add(id);
    }
    return removed;
  }

  /** Ids added, updated or removed since the last call (rolled-back writes included). */
  takeChanged(): Set<number> {
    const changed = this.changed;
    this.changed = new Set();
    return changed;
  }

  /** Forgets the in-memory copy (after a rollback); the next read loads it from the database. */
  discardCache(): void {
    this.cache = null;
    this.domainIds = new Set();
    this.appIds = new Set();
  }

  private read(id: number): Rule | null {
    const row = this.selectOne.get(id);
    return row ? rowToRule(row) : null;
  }

  private loaded(): Map<number, Rule> {
    if (!this.cache) {
      this.cache = new Map(this.selectAll.all().map((row) => [row.id, rowToRule(row)]));
      this.domainIds = new Set(
        [...this.cache.values()].filter((rule) => rule.remote.kind === 'domain').map((rule) => rule.id),
      );
      this.appIds = new Set([...this.cache.values()].filter((rule) => rule.appId !== null).map((rule) => rule.id));
    }
    return this.cache;
  }

  private remember(rule: Rule): Rule {
    // Ids only grow, so adding at the end keeps the map in id order; an update keeps its place.
    if (this.cache) {
      this.cache.set(rule.id, rule);
      if (rule.remote.kind === 'domain') this.domainIds.add(rule.id);
      else this.domainIds.delete(rule.id);
      if (rule.appId !== null) this.appIds.add(rule.id);
      else this.appIds.delete(rule.id);
    }
    return rule;
  }

  expiredIds(now: number): number[] {
    return this.selectExpired.all(now).map((row) => row.id);
  }

  /** The earliest expiry of any rule, or null when no rule expires. */
  nextExpiry(): number | null {
    return this.selectNextExpiry.get()!.next;
  }
}
