// The apps table: stable numeric ids for what people recognise as applications. The kernel works
// with these ids, so they are never reused.
import type { Action, App, AppKind } from '../../contract/index.js';
import type { Db } from '../store/database.js';

interface AppRow {
  id: number;
  kind: AppKind;
  name: string;
  exe: string | null;
  identifier: string | null;
  icon: string | null;
  cgroup: string | null;
  first_seen: number;
  last_seen: number;
  default_action: Action | null;
}

const rowToApp = (row: AppRow): App => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  exe: row.exe,
  identifier: row.identifier,
  icon: row.icon,
  cgroup: row.cgroup,
  firstSeen: row.first_seen,
  lastSeen: row.last_seen,
  defaultAction: row.default_action,
});

export type NewApp = Pick<App, 'kind' | 'name' | 'exe' | 'identifier' | 'icon' | 'cgroup'>;

export class AppsStore {
  private readonly insertRow;
  private readonly selectAll;
  private readonly selectOne;
  private readonly selectByExe;
  private readonly updateDefault;
  private readonly countRows;

  constructor(db: Db) {
    this.insertRow = db.prepare(`INSERT INTO apps (kind, name, exe, identifier, icon, cgroup, first_seen, last_seen)
      VALUES (@kind, @name, @exe, @identifier, @icon, @cgroup, @now, @now)`);
    this.selectAll = db.prepare<[], AppRow>('SELECT * FROM apps ORDER BY id');
    this.selectOne = db.prepare<[number], AppRow>('SELECT * FROM apps WHERE id = ?');
    this.selectByExe = db.prepare<[string], AppRow>("SELECT * FROM apps WHERE exe = ? AND kind = 'executable'");
    this.updateDefault = db.prepare('UPDATE apps SET default_action = ? WHERE id = ?');
    this.countRows = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM apps');
  }

  add(app: NewApp, now: number): App {
    const info = this.insertRow.run({ ...app, now });
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): App | null {
    const row = this.selectOne.get(id);
    return row ? rowToApp(row) : null;
  }

  findExecutable(exe: string): App | null {
    const row = this.selectByExe.get(exe);
    return row ? rowToApp(row) : null;
  }

  list(): App[] {
    return this.selectAll.all().map(rowToApp);
  }

  count(): number {
    return this.countRows.get()!.n;
  }

  setDefault(id: number, action: Action | null): App | null {
    return this.updateDefault.run(action, id).changes === 0 ? null : this.get(id);
  }
}
