// Which app a kernel decision belongs to. The kernel's app id wins when it has one (it follows fork
// and exec from a bound executable or a verified unit, so an app's children and interpreters stay
// the app's; a unit's unverified claim only adds its blocks and never names the owner). Otherwise the process is classified: from /proc while
// it runs the executable the kernel reported, else from what the kernel told (its executable's path,
// recorded at exec, and its cgroup), found or added in the apps table, and remembered for a short
// while per process. A placement the evidence does not bear out is shown as the executable.
//
// What classification verifies is bound in the kernel as it is seen: a verified unit's cgroup as a
// whole, a Flatpak's or Snap's own program by its file (so its next launch is the app from its first
// connection), and a process of a known executable that reached us unbound (an update replaced the
// file; the binding follows the new one).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { App } from '../../contract/index.js';
import type { AppBindings, ExecutableIdentity } from '../../../native/api.js';
import type { Db } from '../store/database.js';
import type { AppsStore } from './apps-store.js';
import { fileIdentity } from './app-binder.js';
import { classifyProcess, factsOfGone, type AppIdentity, type ProcessFacts } from './classify.js';
import type { DesktopLookup } from './desktop-entries.js';
import { readExeInode, readProcessFacts } from './process-facts.js';

/** How long a process's app is remembered: long enough for a burst, short against pid reuse and exec. */
const TGID_TTL_MS = 2000;
const MAX_TGIDS = 20_000;
/** cgroup directories walked at most per lookup of an unknown cgroup id (short-lived processes). */
const MAX_CGROUP_WALK = 5000;
const MAX_UNITS = 10_000;

export interface OwnerOfEvent {
  tgid: number;
  comm: string;
  uid: number;
  cgroupId: bigint;
  /** The kernel's app id, 0 when it had none. */
  appId: number;
  /** The executable the kernel saw the owner run, when it knows. */
  exe: ExecutableIdentity | null;
}

export interface AppIdentitiesOptions {
  /** The cgroup v2 mount, to find the path of a cgroup id when its process is already gone. */
  cgroupRoot: string | null;
  procRoot?: string;
  now?: () => number;
}

/** A program's own files inside its sandbox, which name the app wherever they run. */
const OWN_PROGRAM: Partial<Record<App['kind'], (identity: AppIdentity) => RegExp | null>> = {
  flatpak: () => /^\/app\//,
  snap: (identity) => new RegExp(`^/snap/${(identity.identifier ?? '').split('.')[0]}/`),
};

export class AppIdentities {
  private readonly byTgid = new Map<number, { appId: number; exe: bigint; until: number }>();
  private readonly byKey = new Map<string, number>();
  private readonly cgroupPaths = new Map<bigint, string | null>();
  /** Verified units by cgroup path: their apps and the cgroup ids bound in the kernel as a whole. */
  private readonly unitCgroups = new Map<string, { appId: number; cgroupId: bigint }>();
  private readonly findStatements;
  private readonly touch;
  private readonly newAppListeners: Array<(app: App) => void> = [];
  private readonly bindListeners: Array<(bindings: Partial<AppBindings>) => void> = [];
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

  /** Called with what classification verified and the kernel should bind (added to what it holds). */
  onBind(listener: (bindings: Partial<AppBindings>) => void): void {
    this.bindListeners.push(listener);
  }

  /** The app of an event's owner; 0 only when there is no owner at all (tgid 0: a socket that predates us). */
  appIdOf(owner: OwnerOfEvent): number {
    if (owner.appId !== 0) return owner.appId;
    if (owner.tgid === 0) return 0;
    const now = this.now();
    const exeKey = owner.exe?.ino ?? 0n;
    const cached = this.byTgid.get(owner.tgid);
    if (cached && cached.until > now && cached.exe === exeKey) return cached.appId;
    const { facts, live } = this.factsOf(owner);
    const known = facts.cgroup !== null ? this.unitCgroups.get(facts.cgroup)?.appId : undefined;
    const appId = known ?? this.identify(facts, now, live, owner).appId;
    if (this.byTgid.size >= MAX_TGIDS) this.byTgid.clear();
    this.byTgid.set(owner.tgid, { appId, exe: exeKey, until: now + TGID_TTL_MS });
    return appId;
  }

  /** Classifies a process (already read, running) and returns its stable app id, adding the app when new. */
  appIdOfFacts(facts: ProcessFacts, now = this.now()): number {
    return this.identify(facts, now, true, null).appId;
  }

  /**
   * The process as /proc shows it while it still runs the executable the kernel reported (not a
   * reused pid, not after another exec), else as the kernel described it.
   */
  private factsOf(owner: OwnerOfEvent): { facts: ProcessFacts; live: boolean } {
    const facts = readProcessFacts(owner.tgid, { procRoot: this.procRoot, cgroupRoot: this.options.cgroupRoot });
    if (facts && (!owner.exe || readExeInode(owner.tgid, this.procRoot)?.ino === owner.exe.ino))
      return { facts, live: true };
    const exe = owner.exe?.path && !owner.exe.pathCut ? owner.exe.path : null;
    return {
      facts: factsOfGone(owner.tgid, exe, this.cgroupPathOf(owner.cgroupId), owner.comm, owner.uid),
      live: false,
    };
  }

  private identify(
    facts: ProcessFacts,
    now: number,
    live: boolean,
    owner: OwnerOfEvent | null,
  ): { appId: number; kind: App['kind']; isNew: boolean } {
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
    const bind: Partial<AppBindings> = {};
    const cgroupId = identity.unit && identity.cgroup ? this.cgroupIdOf(identity.cgroup) : null;
    const bound = identity.cgroup ? this.unitCgroups.get(identity.cgroup) : undefined;
    if (cgroupId !== null && (bound?.appId !== appId || bound.cgroupId !== cgroupId)) {
      // A unit made again under the same name (a restarted service) is a new cgroup: bound again.
      if (this.unitCgroups.size >= MAX_UNITS) this.unitCgroups.clear();
      this.unitCgroups.set(identity.cgroup!, { appId, cgroupId });
      bind.cgroups = [{ cgroupId, appId }];
    }
    const own = OWN_PROGRAM[identity.kind]?.(identity);
    if (live && own && facts.exe && own.test(facts.exe)) {
      const file = readExeInode(facts.pid, this.procRoot);
      if (file) bind.executables = [{ ...file, appId }];
    }
    const kernelHadIt = owner !== null && owner.appId === appId;
    if ((identity.kind === 'executable' || identity.kind === 'appimage') && !isNew && identity.exe && !kernelHadIt) {
      // Reached us without the kernel's app id: its binding is stale (an update replaced the file) or
      // it predates it. The file at the path now is what the next exec runs; read it now, the
      // process may be gone by the time the binding is sent.
      const file = fileIdentity(identity.exe) ?? (live ? readExeInode(facts.pid, this.procRoot) : null);
      if (file) bind.executables = [...(bind.executables ?? []), { ...file, appId }];
      if (live) bind.processes = [{ tgid: facts.pid, appId }];
    }
    if (bind.cgroups || bind.executables || bind.processes) for (const listener of this.bindListeners) listener(bind);
    return { appId, kind: identity.kind, isNew };
  }

  /** A cgroup v2 id is its directory's inode number. */
  private cgroupIdOf(path: string): bigint | null {
    const root = this.options.cgroupRoot;
    if (!root) return null;
    try {
      return statSync(join(root, path), { bigint: true }).ino;
    } catch {
      return null; // the unit ended
    }
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
