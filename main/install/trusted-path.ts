// Whether a file can be trusted to be run (or read) as root: the file, every directory on the way
// to it, and every symbolic link met on the way and everything on the way to where each points,
// all owned by root and writable by nobody else. A root-owned /usr/bin/node that links into a
// user's home is that user's program, so links are followed hop by hop, as the kernel does.
import { lstatSync, readlinkSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

/** The kernel gives up after 40 links (ELOOP); so do we. */
const MAX_HOPS = 40;

/** Everything that makes `path` untrustworthy; empty when it is a root-owned file all the way. */
export function trustedPathProblems(path: string): string[] {
  const problems: string[] = [];
  const hops: string[] = [];
  const via = () => (hops.length > 0 ? ` (reached through ${hops.join(', ')})` : '');
  const check = (entry: string, stats: Stats) => {
    if (stats.uid !== 0) problems.push(`${entry} is owned by uid ${stats.uid}, not root${via()}`);
    // A link's own mode means nothing; its directory (checked already) decides who may replace it.
    else if (!stats.isSymbolicLink() && (stats.mode & 0o022) !== 0)
      problems.push(`${entry} is writable by group or others${via()}`);
  };

  check('/', lstatSync('/'));
  let resolved = '/';
  const pending = path.split('/').filter((part) => part !== '');
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      resolved = dirname(resolved);
      continue;
    }
    const entry = join(resolved, name);
    let stats: Stats;
    try {
      stats = lstatSync(entry);
    } catch {
      problems.push(`${entry} is missing${via()}`);
      return problems;
    }
    check(entry, stats);
    if (!stats.isSymbolicLink()) {
      resolved = entry;
      continue;
    }
    if (hops.length >= MAX_HOPS) {
      problems.push(`${path}: more than ${MAX_HOPS} symbolic links`);
      return problems;
    }
    const target = readlinkSync(entry);
    hops.push(`${entry} -> ${target}`);
    if (target.startsWith('/')) resolved = '/';
    pending.unshift(...target.split('/').filter((part) => part !== ''));
  }
  if (!lstatSync(resolved).isFile()) problems.push(`${path} is not a regular file${via()}`);
  return problems;
}
