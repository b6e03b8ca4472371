// The pin directory must be on a BPF filesystem: the kernel pins maps and links nowhere else. It is
// checked and made before anything loads, so a path the helper cannot use ends the start at once
// with what to do, never in a loop. Where the system's bpffs belongs (/sys/fs/bpf) and none is
// mounted — a fresh boot, or `ip netns exec`, which mounts a new /sys — the helper mounts one; any
// other place off bpffs is refused (mounting filesystems on arbitrary directories is not its job).
import { execFileSync } from 'node:child_process';
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { findBpffsMounts } from '../common/cgroup2.js';
import { DEFAULT_BPFFS } from '../common/default-paths.js';
import { deepestExisting, makeDirectories } from './make-dirs.js';

/** statfs f_type of a BPF filesystem (BPF_FS_MAGIC in linux/magic.h). */
export const BPF_FS_MAGIC = 0xcafe4a11;
/** Where the system's bpffs is mounted. */
export const SYSTEM_BPFFS = dirname(DEFAULT_BPFFS);

export interface PinDirDeps {
  /** Mounts a bpffs on `dir`. */
  mountBpffs(dir: string): void;
  log(message: string): void;
}

const systemDeps = (log: (message: string) => void): PinDirDeps => ({
  mountBpffs: (dir) => {
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 });
  },
  log,
});

function onBpffs(dir: string): boolean {
  return statfsSync(dir).type === BPF_FS_MAGIC;
}

/** Makes `pinDir` (mode 0700) on a bpffs, mounting the system one if that is where it belongs and it is missing. */
export function preparePinDir(pinDir: string, deps: PinDirDeps | ((message: string) => void)): void {
  const { mountBpffs, log } = typeof deps === 'function' ? systemDeps(deps) : deps;
  const target = resolve(pinDir);
  let existing = deepestExisting(target);
  if (!onBpffs(existing) && existing === SYSTEM_BPFFS) {
    log(`mounting bpffs on ${SYSTEM_BPFFS}`);
    try {
      mountBpffs(SYSTEM_BPFFS);
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      throw new PortcullisError(
        'unavailable',
        `--bpffs ${target}: no bpffs is mounted on ${SYSTEM_BPFFS} and mounting one failed: ${stderr || (error as Error).message}`,
        { where: 'bpffs' },
      );
    }
    existing = deepestExisting(target);
  }
  if (!onBpffs(existing)) {
    const mounts = findBpffsMounts();
    throw new PortcullisError(
      'unavailable',
      `--bpffs ${target}: ${existing} is not on a BPF filesystem, and pins can only live on one. ` +
        `Mount one there (mount -t bpf bpf ${existing}) or choose a directory under a mounted bpffs` +
        (mounts.length > 0 ? ` (mounted here: ${mounts.join(', ')})` : ' (none is mounted)'),
      { where: 'bpffs' },
    );
  }
  makeDirectories(target, 0o700, '--bpffs');
}
