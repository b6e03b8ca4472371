// The store's schema, as an append-only list: migration N takes the database from version N-1 to N.
// Never edit a released step; add a new one at the end (other areas add their tables this way).
import type { Database } from 'better-sqlite3';
import { flowsMigration } from '../flows/flows-store.js';
import { listsMigration } from './lists-store.js';

export interface Migration {
  /** What the step adds, for the log and for people reading the list. */
  description: string;
  up(db: Database): void;
}

export const migrations: Migration[] = [
  {
    description: 'rules, apps, settings and helper state',
    up(db) {
      db.exec(`
        -- AUTOINCREMENT: a removed rule's id is never reused, so kernel events and history that name
        -- a rule id keep meaning that rule.
        CREATE TABLE rules (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          action TEXT NOT NULL CHECK (action IN ('block', 'allow')),
          app_id INTEGER REFERENCES apps(id),
          remote TEXT NOT NULL,            -- canonical text: any, 10.0.0.0/8, ::1, example.com, *.example.com
          port_from INTEGER,
          port_to INTEGER,
          protocol TEXT NOT NULL CHECK (protocol IN ('any', 'tcp', 'udp', 'icmp')),
          direction TEXT NOT NULL CHECK (direction IN ('out', 'in', 'both')),
          expires_at INTEGER,
          note TEXT NOT NULL DEFAULT '',
          enabled INTEGER NOT NULL DEFAULT 1,
          created_at INTEGER NOT NULL,
          updated_at INTEGER NOT NULL,
          hits INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX rules_expires ON rules(expires_at) WHERE expires_at IS NOT NULL;
        CREATE TABLE apps (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          name TEXT NOT NULL,
          exe TEXT,
          identifier TEXT,
          icon TEXT,
          cgroup TEXT,
          first_seen INTEGER NOT NULL,
          last_seen INTEGER NOT NULL,
          default_action TEXT CHECK (default_action IN ('block', 'allow'))
        );
        CREATE UNIQUE INDEX apps_exe ON apps(exe) WHERE exe IS NOT NULL AND kind = 'executable';
        -- Settings and helper state as JSON values by key (small, read whole).
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE helper_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      `);
    },
  },
  flowsMigration,
  listsMigration,
];
