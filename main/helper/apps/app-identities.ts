// Which app a kernel decision belongs to. The kernel's app id wins when it has one (it follows
// fork and exec from a bound executable or cgroup, so an app's children and interpreters stay the
// app's). Otherwise the process is classified from /proc, found or added in the apps table, and
// remembered for a short while per tgid — events come in bursts from the same processes.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '../../contract/index.js';
import type { Db } from '../store/database.js';
import type { AppsStore } from './apps-store.js';
import { classifyProcess, type AppIdentity, type ProcessFacts } from './classify.js';
import type { DesktopLookup } from './desktop-entries.js';
import { readExeInode, readProcessFacts } from './process-facts.js';

/** How long a tgid's app is remembered: long enough for a burst, short against pid reuse and exec. */
const TGID_TTL_MS = 2000;
const MAX_TGIDS = 20_000;
/** cgroup directories walked at most per lookup of an unknown cgroup id (short-lived processes). */
const MAX_CGROUP_WALK = 5000;

export interface UnboundProcess {
  tgid: number;
  appId: number;
  /** Device and inode of the app's executable as it is now, or null when unreadable. */
  file: { dev: bigint; ino: bigint } | null;
}

function fileIdentity(path: string): { dev: bigint; ino: bigint } | null {
  try {
    const stats = statSync(path, { bigint: true });
    return { dev: stats.dev, ino: stats.ino };
  } catch {
    return null;
  }
}

export interface OwnerOfEvent {
  tgid: number;
  comm: string;
  cgroupId: bigint;
  /** The kernel's app id, 0 when it had none. */
  appId: number;
}

export interface AppIdentitiesOptions {
  /** The cgroup v2 mount, to find the path of a cgroup id when its process is already gone. */
  cgroupRoot: string | null;
  procRoot?: string;
  now?: () => number;
}

export class AppIdentities {
  private readonly byTgid = new Map<number, { appId: number; until: number }>();
  private readonly byKey = new Map<string, number>();
  private readonly cgroupPaths = new Map<bigint, string | null>();
  /** Units (scopes, services) whose processes are an app: the kernel can bind them by cgroup id. */
  private readonly unitCgroups = new Map<string, number>();
  private readonly findStatements;
  private readonly touch;
  private readonly newAppListeners: Array<(app: App) => void> = [];
  private readonly unboundListeners: Array<(process: UnboundProcess) => void> = [];
  private readonly procRoot: string;
  private readonly now: () => number;
  classified = 0;

  constructor(
    db: Db,
    private readonly apps: AppsStore,
    private readonly desktop: DesktopLookup,
    private readonly options: AppIdentitiesOptions,
  ) {
    this.procRoot = options.procRoot ?? '/proc';
    this.now = options.now ?? Date.now;
    this.findStatements = {
      byExe: db.prepare<[string, string], { id: number }>(
        'SELECT id FROM apps WHERE kind = ? AND exe = ? ORDER BY id LIMIT 1',
      ),
      byIdentifier: db.prepare<[string, string], { id: number }>(
        'SELECT id FROM apps WHERE kind = ? AND identifier = ? ORDER BY id LIMIT 1',
      ),
      byName: db.prepare<[string, string], { id: number }>(
        'SELECT id FROM apps WHERE kind = ? AND name = ? ORDER BY id LIMIT 1',
      ),
    };
    this.touch = db.prepare('UPDATE apps SET last_seen = MAX(last_seen, ?) WHERE id = ?');
  }

  /** Called when classification adds an app (the kernel bindings should learn it). */
  onNewApp(listener: (app: App) => void): void {
    this.newAppListeners.push(listener);
  }

  /**
   * Called when a process of a known executable app reached us without the kernel's app id: its
   * binding is stale (an update replaced the file, so the new inode is unbound) or it predates it.
   */
  onUnboundProcess(listener: (process: UnboundProcess) => void): void {
    this.unboundListeners.push(listener);
  }

  /** The app of an event's owner; 0 only when there is no owner at all (tgid 0: a socket that predates us). */
  appIdOf(owner: OwnerOfEvent): number {
    if (owner.appId !== 0) return owner.appId;
    if (owner.tgid === 0) return 0;
    const now = this.now();
    const cached = this.byTgid.get(owner.tgid);
    if (cached && cached.until > now) return cached.appId;
    const facts = readProcessFacts(owner.tgid, this.procRoot) ?? this.factsOfGone(owner);
    const { appId, kind, isNew } = this.identify(facts, now);
    if (kind === 'executable' && !isNew && facts.exe !== null) {
      // The file at the path now is what the next exec runs (after an update, the new inode); read it
      // now, the process may be gone by the time the binding is sent.
      const file = fileIdentity(facts.exe) ?? readExeInode(owner.tgid, this.procRoot);
      for (const listener of this.unboundListeners) listener({ tgid: owner.tgid, appId, file });
    }
    if (this.byTgid.size >= MAX_TGIDS) this.byTgid.clear();
    this.byTgid.set(owner.tgid, { appId, until: now + TGID_TTL_MS });
    return appId;
  }

  /** Classifies a process (already read) and returns its stable app id, adding the app when new. */
  appIdOfFacts(facts: ProcessFacts, now = this.now()): number {
    return this.identify(facts, now).appId;
  }

  private identify(facts: ProcessFacts, now: number): { appId: number; kind: App['kind']; isNew: boolean } {
    this.classified++;
    const identity = classifyProcess(facts, this.desktop);
    let appId = this.byKey.get(identity.key);
    let isNew = false;
    if (appId === undefined) {
      const found = this.find(identity);
      isNew = found === null;
      appId = found ?? this.add(identity, now);
      this.byKey.set(identity.key, appId);
    }
    this.touch.run(now, appId);
    if (
      identity.cgroup &&
      identity.kind !== 'executable' &&
      identity.kind !== 'unknown' &&
      identity.kind !== 'appimage'
    ) {
      this.unitCgroups.set(identity.cgroup, appId);
    }
    return { appId, kind: identity.kind, isNew };
  }

  /** Scopes and services seen for apps, with their cgroup ids, for the kernel's cgroup -> app map. */
  cgroupBindings(): Array<{ cgroupId: bigint; appId: number }> {
    const out: Array<{ cgroupId: bigint; appId: number }> = [];
    const root = this.options.cgroupRoot;
    if (!root) return out;
    for (const [path, appId] of this.unitCgroups) {
      try {
        out.push({ cgroupId: statSync(join(root, path), { bigint: true }).ino, appId });
      } catch {
        this.unitCgroups.delete(path); // the scope ended
      }
    }
    return out;
  }

  private find(identity: AppIdentity): number | null {
    const { byExe, byIdentifier, byName } = this.findStatements;
    switch (identity.kind) {
      case 'executable':
      case 'appimage':
        return identity.exe ? (byExe.get(identity.kind, identity.exe)?.id ?? null) : null;
      case 'unknown':
      case 'kernel':
        return byName.get(identity.kind, identity.name)?.id ?? null;
      default:
        return identity.identifier ? (byIdentifier.get(identity.kind, identity.identifier)?.id ?? null) : null;
    }
  }

  private add(identity: AppIdentity, now: number): number {
    const { key: _key, ...fields } = identity;
    const app = this.apps.add(fields, now);
    for (const listener of this.newAppListeners) listener(app);
    return app.id;
  }

  /** A process gone before we looked: its cgroup (found by id) and comm are all there is. */
  private factsOfGone(owner: OwnerOfEvent): ProcessFacts {
    return {
      pid: owner.tgid,
      exe: null,
      cgroup: this.cgroupPathOf(owner.cgroupId),
      comm: owner.comm,
      uid: 0,
      appImage: null,
    };
  }

  /** A cgroup v2 id is its directory's inode number; find the directory (bounded walk, remembered). */
  private cgroupPathOf(cgroupId: bigint): string | null {
    if (cgroupId === 0n || !this.options.cgroupRoot) return null;
    if (this.cgroupPaths.has(cgroupId)) return this.cgroupPaths.get(cgroupId)!;
    const root = this.options.cgroupRoot;
    let found: string | null = null;
    const queue = [''];
    for (let visited = 0; queue.length > 0 && visited < MAX_CGROUP_WALK && found === null; visited++) {
      const relative = queue.shift()!;
      const dir = join(root, relative);
      try {
        if (statSync(dir, { bigint: true }).ino === cgroupId) {
          found = relative === '' ? '/' : `/${relative}`;
          break;
        }
        for (const entry of readdirSync(dir, { withFileTypes: true }))
          if (entry.isDirectory()) queue.push(relative ? `${relative}/${entry.name}` : entry.name);
      } catch {
        /* removed while walking */
      }
    }
    if (this.cgroupPaths.size > 10_000) this.cgroupPaths.clear();
    this.cgroupPaths.set(cgroupId, found);
    return found;
  }
}
