// Resolves what a rule names as its app (an app id, or an executable path) to a stable app id, and
// tells the kernel which processes belong to which app.
//
// An executable is bound by the file's identity (device + inode, what the kernel sees at exec) and
// shown by its resolved path. Processes already running when a binding appears are found through
// /proc/PID/exe. Extend here for desktop ids, Flatpak/Snap, services and containers: add a resolver
// that returns an app id, and add its bindings (cgroups) in bindings().
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { PortcullisError, type App, type AppSelector } from '../../contract/index.js';
import type { AppBindings } from '../../../native/api.js';
import type { AppsStore } from './apps-store.js';

/** Where apps found by classification live as cgroups (desktop scopes, services): their cgroup ids. */
export type CgroupBindingSource = (only?: ReadonlySet<number>) => AppBindings['cgroups'];

export class AppRegistry {
  private readonly cgroupSources: CgroupBindingSource[] = [];

  constructor(
    private readonly apps: AppsStore,
    private readonly procRoot = '/proc',
  ) {}

  /** Adds cgroup bindings (e.g. the scopes of desktop apps) to what bindings() returns. */
  addCgroupSource(source: CgroupBindingSource): void {
    this.cgroupSources.push(source);
  }

  /**
   * The app id a rule applies to (null = every app). Unknown ids and paths that are not executable
   * files are the caller's mistake: invalid-input, located at `where`.
   */
  resolve(selector: AppSelector, now: number, where: string): number | null {
    if (selector === null) return null;
    if (typeof selector === 'number') {
      if (!this.apps.get(selector))
        throw new PortcullisError(
          'invalid-input',
          `${where}: there is no app with id ${selector} (see "portcullis apps")`,
          { where },
        );
      return selector;
    }
    return this.registerExecutable(selector, now, where).id;
  }

  registerExecutable(path: string, now: number, where: string): App {
    let resolved: string;
    try {
      resolved = realpathSync(path);
    } catch {
      throw new PortcullisError('invalid-input', `${where}: "${path}" does not exist`, { where });
    }
    const stats = statSync(resolved);
    if (!stats.isFile()) throw new PortcullisError('invalid-input', `${where}: "${path}" is not a file`, { where });
    if ((stats.mode & 0o111) === 0)
      throw new PortcullisError('invalid-input', `${where}: "${path}" is not executable`, { where });
    return (
      this.apps.findExecutable(resolved) ??
      this.apps.add(
        { kind: 'executable', name: basename(resolved), exe: resolved, identifier: null, icon: null, cgroup: null },
        now,
      )
    );
  }

  /**
   * What the kernel needs to know these apps (default: every app): each executable's file identity
   * and the processes already running it.
   */
  bindings(only?: ReadonlySet<number>): AppBindings {
    const executables: AppBindings['executables'] = [];
    const byFile = new Map<string, number>();
    for (const app of this.apps.list()) {
      if (only && !only.has(app.id)) continue;
      if (app.kind !== 'executable' || !app.exe) continue;
      const identity = fileIdentity(app.exe);
      if (!identity) continue; // uninstalled since; the rule stays and binds again if it returns
      executables.push({ ...identity, appId: app.id });
      byFile.set(`${identity.dev}:${identity.ino}`, app.id);
    }
    const processes: AppBindings['processes'] = [];
    if (byFile.size > 0) {
      for (const entry of readdirSync(this.procRoot)) {
        if (!/^[0-9]+$/.test(entry)) continue;
        const identity = fileIdentity(`${this.procRoot}/${entry}/exe`);
        const appId = identity && byFile.get(`${identity.dev}:${identity.ino}`);
        if (appId) processes.push({ tgid: Number(entry), appId });
      }
    }
    return {
      executables,
      paths: [],
      cgroups: this.cgroupSources.flatMap((source) => source(only)),
      processes,
      units: [],
    };
  }
}

/** Device and inode of a file (following links), or null when it is gone or unreadable. */
function fileIdentity(path: string): { dev: bigint; ino: bigint } | null {
  try {
    const stats = statSync(path, { bigint: true });
    return { dev: stats.dev, ino: stats.ino };
  } catch {
    return null; // kernel threads have no exe; processes exit while we look
  }
}
