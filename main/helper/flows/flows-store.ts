// Flow history in SQLite: one row per flow and hour, so time ranges and retention work on rows,
// and a flow that lasts days is still one row per hour, not one per event. Writes are batched:
// the tracker's deltas for a whole interval go in one transaction, added to the rows (upsert).
import type { Database } from 'better-sqlite3';
import type { Flow, FlowDirection, FlowProtocol, Verdict } from '../../contract/index.js';
import type { FlowDelta } from './flow-tracker.js';

export const HOUR_MS = 3_600_000;

/** The flows table, added to the store's append-only migration list. */
export const flowsMigration = {
  description: 'flows: per app × remote × port × protocol × direction and hour',
  up(db: Database): void {
    db.exec(`
      CREATE TABLE flows (
        app_id INTEGER NOT NULL,
        remote_addr TEXT NOT NULL,
        remote_port INTEGER NOT NULL,
        protocol TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
        hour INTEGER NOT NULL,             -- start of the hour (ms since epoch) the row covers
        remote_name TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        bytes_out INTEGER NOT NULL DEFAULT 0,
        bytes_in INTEGER NOT NULL DEFAULT 0,
        packets_out INTEGER NOT NULL DEFAULT 0,
        packets_in INTEGER NOT NULL DEFAULT 0,
        allowed INTEGER NOT NULL DEFAULT 0,
        blocked INTEGER NOT NULL DEFAULT 0,
        last_verdict TEXT NOT NULL CHECK (last_verdict IN ('allow', 'block')),
        last_rule_id INTEGER,
        PRIMARY KEY (app_id, remote_addr, remote_port, protocol, direction, hour)
      ) WITHOUT ROWID;
      CREATE INDEX flows_last_seen ON flows(last_seen);
      CREATE INDEX flows_remote ON flows(remote_addr);
      CREATE INDEX flows_name ON flows(remote_name) WHERE remote_name IS NOT NULL;
    `);
  },
};

export interface FlowQuery {
  app?: number;
  /** An address, or a name (also matches names under it: "example.com" finds "www.example.com"). */
  remote?: string;
  since?: number;
  until?: number;
  verdict?: Verdict;
  limit?: number;
}

interface FlowRow {
  app_id: number;
  remote_addr: string;
  remote_port: number;
  protocol: FlowProtocol;
  direction: FlowDirection;
  remote_name: string | null;
  first_seen: number;
  last_seen: number;
  bytes_out: number;
  bytes_in: number;
  packets_out: number;
  packets_in: number;
  allowed: number;
  blocked: number;
  last_verdict: Verdict;
  last_rule_id: number | null;
}

const DEFAULT_LIMIT = 1000;

export class FlowsStore {
  private readonly upsert;
  private readonly pruneRows;
  private readonly writeMany;

  constructor(private readonly db: Database) {
    this.upsert = db.prepare(`
      INSERT INTO flows (app_id, remote_addr, remote_port, protocol, direction, hour, remote_name, first_seen, last_seen,
                         bytes_out, bytes_in, packets_out, packets_in, allowed, blocked, last_verdict, last_rule_id)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (app_id, remote_addr, remote_port, protocol, direction, hour) DO UPDATE SET
        remote_name = COALESCE(excluded.remote_name, remote_name),
        first_seen = MIN(first_seen, excluded.first_seen),
        last_seen = MAX(last_seen, excluded.last_seen),
        bytes_out = bytes_out + excluded.bytes_out,
        bytes_in = bytes_in + excluded.bytes_in,
        packets_out = packets_out + excluded.packets_out,
        packets_in = packets_in + excluded.packets_in,
        allowed = allowed + excluded.allowed,
        blocked = blocked + excluded.blocked,
        last_verdict = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_verdict ELSE last_verdict END,
        last_rule_id = CASE WHEN excluded.last_seen >= last_seen THEN excluded.last_rule_id ELSE last_rule_id END`);
    this.pruneRows = db.prepare('DELETE FROM flows WHERE last_seen < ?');
    this.writeMany = db.transaction((deltas: readonly FlowDelta[]) => {
      // Positional parameters: no object per row (this runs for every changed flow).
      for (const d of deltas) {
        this.upsert.run(
          d.appId,
          d.remoteAddr,
          d.remotePort,
          d.protocol,
          d.direction,
          d.lastSeen - (d.lastSeen % HOUR_MS),
          d.remoteName,
          d.firstSeen,
          d.lastSeen,
          d.bytesOut,
          d.bytesIn,
          d.packetsOut,
          d.packetsIn,
          d.allowed,
          d.blocked,
          d.lastVerdict,
          d.lastRuleId,
        );
      }
    });
  }

  /** Adds a batch of deltas in one transaction. */
  write(deltas: readonly FlowDelta[]): void {
    if (deltas.length > 0) this.writeMany(deltas);
  }

  /** Flows matching the query, summed over their hours, most recently seen first. */
  query(query: FlowQuery = {}): Flow[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (query.app !== undefined) {
      where.push('app_id = @app');
      params.app = query.app;
    }
    if (query.since !== undefined) {
      where.push('last_seen >= @since');
      params.since = query.since;
    }
    if (query.until !== undefined) {
      where.push('first_seen <= @until');
      params.until = query.until;
    }
    if (query.remote !== undefined) {
      const remote = query.remote.trim().toLowerCase();
      where.push("(remote_addr = @remote OR remote_name = @remote OR remote_name LIKE @under ESCAPE '\\')");
      params.remote = remote;
      params.under = `%.${remote.replace(/[\\%_]/g, (c) => `\\${c}`)}`;
    }
    const having =
      query.verdict === 'block'
        ? 'HAVING SUM(blocked) > 0'
        : query.verdict === 'allow'
          ? 'HAVING SUM(allowed) > 0'
          : '';
    params.limit = query.limit ?? DEFAULT_LIMIT;
    // SQLite takes bare columns (last_verdict, last_rule_id, remote_name) from the row holding MAX(last_seen).
    const rows = this.db
      .prepare<Record<string, unknown>, FlowRow>(
        `
      SELECT app_id, remote_addr, remote_port, protocol, direction,
             MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen,
             SUM(bytes_out) AS bytes_out, SUM(bytes_in) AS bytes_in, SUM(packets_out) AS packets_out, SUM(packets_in) AS packets_in,
             SUM(allowed) AS allowed, SUM(blocked) AS blocked, last_verdict, last_rule_id, remote_name
      FROM flows ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      GROUP BY app_id, remote_addr, remote_port, protocol, direction
      ${having}
      ORDER BY last_seen DESC
      LIMIT @limit`,
      )
      .all(params);
    return rows.map((row) => ({
      appId: row.app_id,
      remoteAddr: row.remote_addr,
      remoteName: row.remote_name,
      remotePort: row.remote_port,
      protocol: row.protocol,
      direction: row.direction,
      firstSeen: row.first_seen,
      lastSeen: row.last_seen,
      bytesOut: row.bytes_out,
      bytesIn: row.bytes_in,
      packetsOut: row.packets_out,
      packetsIn: row.packets_in,
      allowed: row.allowed,
      blocked: row.blocked,
      lastVerdict: row.last_verdict,
      lastRuleId: row.last_rule_id,
    }));
  }

  /** Drops history older than the retention; returns rows removed. */
  prune(retentionDays: number, nowMs: number): number {
    return this.pruneRows.run(nowMs - retentionDays * 86_400_000).changes;
  }
}
