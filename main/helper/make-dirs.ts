// mkdir -p without its trap: Node's recursive mkdir retries forever when a parent exists but a
// mkdir below it answers ENOENT, as pseudo-filesystems do (sysfs, under a /sys/fs/bpf with no bpffs
// mounted on it). Here each missing component is made once, from the deepest that exists down, and
// a failure names the directory and the reason.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PortcullisError } from '../contract/index.js';

/** The deepest existing directory on the way to `path` (the path itself when it exists). */
export function deepestExisting(path: string): string {
  let dir = resolve(path);
  for (;;) {
    try {
      statSync(dir);
      return dir;
    } catch {
      const parent = dirname(dir);
      if (parent === dir) return dir;
      dir = parent;
    }
  }
}

/** Makes `path` and its missing parents with `mode`; `what` names the path in errors ("--state-dir"). */
export function makeDirectories(path: string, mode: number, what: string): void {
  const target = resolve(path);
  const existing = deepestExisting(target);
  if (!statSync(existing).isDirectory())
    throw new PortcullisError('unavailable', `${what} ${target}: ${existing} is not a directory`, { where: what });
  const missing: string[] = [];
  for (let dir = target; dir !== existing; dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode });
    } catch (error) {
      const failure = error as NodeJS.ErrnoException;
      if (failure.code === 'EEXIST') continue;
      throw new PortcullisError(
        'unavailable',
        `${what} ${target}: cannot create ${dir} (${failure.code ?? failure.message})`,
        {
          where: what,
        },
      );
    }
  }
}
