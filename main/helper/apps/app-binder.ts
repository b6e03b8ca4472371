// What the kernel must know of the stored apps to decide per app before the helper sees a process
// (bpf/portcullis.h "Executables and processes"), brought in step with the store and the rules on
// every change:
//   - executables: an executable's or AppImage's file, and a desktop app's own program, by file
//     identity (and by path where only root can change what the path names, so an update's new
//     file is the app from its first run), with the processes already running them;
//   - unit names: a system service's (binding only cgroups root makes), and the claims of desktop,
//     Flatpak and Snap apps and user services, published only while claiming the app cannot loosen
//     anything (it has no allow rule and no allow default) and it has something to enforce (a block
//     rule or default). An app that stops qualifying has its claims withdrawn.
// Cgroups verified as an app's unit, and executables learned from verified processes, are bound
// by the connections side as it sees them.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { App } from '../../contract/index.js';
import type { AppBindingChange, AppBindings } from '../../../native/api.js';
import { PATH_MAX_BYTES } from '../../../native/app-bindings.js';
import type { DesktopLookup } from './desktop-entries.js';
import { unitKeysOf } from './unit-names.js';

type Unit = AppBindings['units'][number];

/** What one app's own rules do (RulesStore.appRuleActions). */
export type AppRuleActions = ReadonlyMap<number, { allows: boolean; blocks: boolean }>;

/** A change for the kernel, and what to note once the kernel took it. */
export interface BindingPlan {
  /** null when the kernel already matches. */
  change: AppBindingChange | null;
  /** The executables and processes the change binds (undone when the store's change fails). */
  added: Pick<AppBindings, 'executables' | 'paths' | 'processes'>;
  /** Call once the kernel took the change. */
  done(): void;
}

/** Device and inode of a file (following links), or null when it is gone or unreadable. */
export function fileIdentity(path: string): { dev: bigint; ino: bigint } | null {
  try {
    const stats = statSync(path, { bigint: true });
    return { dev: stats.dev, ino: stats.ino };
  } catch {
    return null;
  }
}

/**
 * Whether only root can change what an absolute, resolved path names: the file and every directory
 * above it owned by root and writable by nobody else.
 */
export function rootControlled(path: string): boolean {
  if (!path.startsWith('/') || Buffer.byteLength(path) > PATH_MAX_BYTES) return false;
  for (let at = path; ; at = dirname(at)) {
    try {
      const stats = statSync(at);
      if (stats.uid !== 0 || (stats.mode & 0o022) !== 0) return false;
    } catch {
      return false;
    }
    if (at === '/') return true;
  }
}

export class AppBinder {
  /** Apps whose executables are bound. Only ever added: the kernel's exec/fork tracking keeps processes. */
  private readonly boundApps = new Set<number>();
  /** Unit names as the kernel holds them (null: not known, e.g. at start: replaced whole). */
  private published: Map<string, Unit> | null = null;
  /** Apps whose claims the kernel may hold (null: not known: every app is withdrawn once). */
  private claimable: Set<number> | null = null;

  constructor(
    private readonly desktop: DesktopLookup,
    private readonly procRoot = '/proc',
  ) {}

  /** The change that brings the kernel in step with these apps and rules. */
  plan(apps: readonly App[], ruleActions: AppRuleActions): BindingPlan {
    const unbound = apps.filter((app) => !this.boundApps.has(app.id));
    const added = this.executables(unbound, apps);
    const { units, claimable } = this.units(apps, ruleActions);
    const published = this.published;
    const removeUnits = published ? [...published].filter(([key, unit]) => !sameUnit(units.get(key), unit)) : [];
    const addUnits = [...units].filter(([key, unit]) => !published || !sameUnit(published.get(key), unit));
    const before = this.claimable ?? new Set(apps.map((app) => app.id));
    const unclaim = [...before].filter((id) => !claimable.has(id));
    const change: AppBindingChange = {
      add: { ...added, units: addUnits.map(([, unit]) => unit) },
      remove: { units: removeUnits.map(([, unit]) => unit) },
      unclaim,
      resetUnits: published === null,
    };
    const empty =
      added.executables.length + added.paths.length + added.processes.length + addUnits.length + removeUnits.length ===
        0 &&
      unclaim.length === 0 &&
      published !== null;
    return {
      change: empty ? null : change,
      added,
      done: () => {
        for (const app of unbound) this.boundApps.add(app.id);
        this.published = units;
        this.claimable = claimable;
      },
    };
  }

  /** Apps of a failed change (their rows are gone): bound again if they come back. */
  forget(appIds: Iterable<number>): void {
    for (const id of appIds) this.boundApps.delete(id);
    this.published = null;
    this.claimable = null;
  }

  /**
   * The executables of `apps` and the processes running them: executables and AppImages by their
   * file, desktop apps by their entry's own program unless an executable app names the same file.
   */
  private executables(apps: readonly App[], all: readonly App[]): BindingPlan['added'] {
    const explicit = new Set(all.filter((app) => app.kind === 'executable' && app.exe).map((app) => app.exe!));
    const executables: AppBindings['executables'] = [];
    const paths: AppBindings['paths'] = [];
    const byFile = new Map<string, number>();
    for (const app of apps) {
      const file = this.fileOf(app, explicit);
      if (!file) continue;
      const identity = fileIdentity(file);
      if (!identity) continue; // uninstalled since; the rule stays and binds again if it returns
      executables.push({ ...identity, appId: app.id });
      byFile.set(`${identity.dev}:${identity.ino}`, app.id);
      const real = realPath(file);
      if (real && rootControlled(real)) paths.push({ path: real, appId: app.id });
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
    return { executables, paths, processes };
  }

  private fileOf(app: App, explicit: ReadonlySet<string>): string | null {
    if ((app.kind === 'executable' || app.kind === 'appimage') && app.exe) return app.exe;
    if (app.kind !== 'desktop' || !app.identifier) return null;
    const entry = this.desktop.byId(app.identifier);
    // Only the entry's own program (not a launcher or interpreter, not shared by another entry).
    if (!entry?.exe || this.desktop.byExe(entry.exe)?.id !== entry.id || explicit.has(entry.exe)) return null;
    return entry.exe;
  }

  /** The unit names to publish, and the apps whose claims may stand. */
  private units(
    apps: readonly App[],
    ruleActions: AppRuleActions,
  ): { units: Map<string, Unit>; claimable: Set<number> } {
    const units = new Map<string, Unit>();
    const claimable = new Set<number>();
    for (const app of apps) {
      const { keys, rootOnly } = unitKeysOf(app);
      if (keys.length === 0) continue;
      const actions = ruleActions.get(app.id);
      if (!rootOnly) {
        const loosens = actions?.allows === true || app.defaultAction === 'allow';
        const enforces = actions?.blocks === true || app.defaultAction === 'block';
        if (loosens || !enforces) continue;
        claimable.add(app.id);
      }
      for (const key of keys) if (!units.has(key)) units.set(key, { unit: key, appId: app.id, rootOnly });
    }
    return { units, claimable };
  }
}

const sameUnit = (a: Unit | undefined, b: Unit): boolean =>
  a !== undefined && a.appId === b.appId && a.rootOnly === b.rootOnly;

function realPath(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}
