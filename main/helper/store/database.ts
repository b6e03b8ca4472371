// Opens the helper's SQLite database and brings its schema up to date.
//
// Durability: WAL with synchronous=FULL. In WAL mode a commit is written to the WAL file before
// better-sqlite3 returns, so it already survives kill -9 of the helper with NORMAL; FULL adds an
// fsync of the WAL on every commit, so an acknowledged change also survives a power cut. The
// fsync does not delay enforcement (the engine updates the kernel before it commits), only the
// reply: measured at 10k rules it is ~0.5 ms of a rule change's ~1 ms in the helper (ext4 on the
// test VM's virtual disk; more on a slow one), so FULL stays. An import chunk pays it once.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { makeDirectories } from '../make-dirs.js';
import { migrations, type Migration } from './migrations.js';

export type Db = Database.Database;

export const DATABASE_FILE = 'portcullis.db';

export function openDatabase(stateDir: string, steps: readonly Migration[] = migrations): Db {
  makeDirectories(stateDir, 0o700, 'state directory');
  const db = new Database(join(stateDir, DATABASE_FILE));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db, steps);
  return db;
}

/** Runs the steps the database has not seen yet, each in its own transaction with its version bump. */
export function migrate(db: Db, steps: readonly Migration[]): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > steps.length) {
    throw new Error(
      `the database schema is version ${current}, newer than this helper knows (${steps.length}); upgrade Portcullis`,
    );
  }
  for (let version = current + 1; version <= steps.length; version++) {
    const step = steps[version - 1]!;
    db.transaction(() => {
      step.up(db);
      db.pragma(`user_version = ${version}`);
    })();
  }
}
