// Resolves what a rule names as its app (an app id, or an executable path) to a stable app id. An
// executable is shown by its resolved path; what the kernel binds for it is the AppBinder's.
import { realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { PortcullisError, type App, type AppSelector } from '../../contract/index.js';
import type { AppsStore } from './apps-store.js';

export class AppRegistry {
  constructor(private readonly apps: AppsStore) {}

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
}
