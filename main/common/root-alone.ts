// Whether root alone could have put what is at a path there: the check the helper applies to its
// policy directory and files, and install to the policy directory it makes (one rule, so install
// never accepts a directory the helper would then refuse).
import type { Stats } from 'node:fs';

/** Why this path (lstat'ed, links not followed) is not root's alone; null when it is. */
export function unsafeReason(stats: Stats, kind: 'file' | 'directory'): string | null {
  if (kind === 'file' ? !stats.isFile() : !stats.isDirectory())
    return stats.isSymbolicLink()
      ? `is a symbolic link, not a ${kind === 'file' ? 'regular file' : 'directory'}`
      : `is not a ${kind}`;
  if (stats.uid !== 0) return `is owned by uid ${stats.uid}, not root`;
  if ((stats.mode & 0o022) !== 0) return `is writable by group or others (mode ${(stats.mode & 0o777).toString(8)})`;
  return null;
}
