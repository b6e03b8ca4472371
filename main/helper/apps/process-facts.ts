// Reads what classification needs about a process from /proc. Processes exit at any moment, so
// every read may fail; a vanished process yields null rather than an exception.
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import type { ProcessFacts } from './classify.js';

const DELETED_SUFFIX = ' (deleted)';
/** Where AppImage runtimes mount their images (type-2 runtime: /tmp/.mount_<name><random>). */
const APPIMAGE_MOUNT = /^\/tmp\/\.mount_[^/]+\//;
const MAX_ANCESTORS = 16;
/** environ can be large; APPIMAGE is set by the runtime near the front, but read a generous prefix. */
const MAX_ENVIRON_BYTES = 256 * 1024;

function readText(path: string, maxBytes = 64 * 1024): string | null {
  try {
    const text = readFileSync(path);
    return text.subarray(0, maxBytes).toString('utf8');
  } catch {
    return null;
  }
}

/** /proc/PID/exe without the " (deleted)" the kernel appends once the file was replaced or removed. */
export function readExe(pid: number, procRoot = '/proc'): string | null {
  try {
    const link = readlinkSync(`${procRoot}/${pid}/exe`);
    return link.endsWith(DELETED_SUFFIX) ? link.slice(0, -DELETED_SUFFIX.length) : link;
  } catch {
    return null;
  }
}

/** The cgroup v2 line ("0::/path") of /proc/PID/cgroup. */
export function readCgroupPath(pid: number, procRoot = '/proc'): string | null {
  const text = readText(`${procRoot}/${pid}/cgroup`);
  if (text === null) return null;
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line ? line.slice(3) : null;
}

function statusField(status: string, field: string): string | null {
  const line = status.split('\n').find((l) => l.startsWith(`${field}:`));
  return line ? line.slice(field.length + 1).trim() : null;
}

function appImageOf(pid: number, exe: string | null, procRoot: string): string | null {
  const environ = readText(`${procRoot}/${pid}/environ`, MAX_ENVIRON_BYTES);
  const fromEnv = environ
    ?.split('\0')
    .find((v) => v.startsWith('APPIMAGE='))
    ?.slice('APPIMAGE='.length);
  if (fromEnv && fromEnv.startsWith('/')) return fromEnv;
  if (!exe || !APPIMAGE_MOUNT.test(exe)) return null;
  // No APPIMAGE in sight: the runtime that mounted the image is an ancestor whose exe is the AppImage file.
  let current = pid;
  for (let depth = 0; depth < MAX_ANCESTORS; depth++) {
    const status = readText(`${procRoot}/${current}/status`);
    const parent = status ? Number(statusField(status, 'PPid')) : 0;
    if (!parent) return null;
    const parentExe = readExe(parent, procRoot);
    if (parentExe && !APPIMAGE_MOUNT.test(parentExe)) return parentExe;
    current = parent;
  }
  return null;
}

/** Everything classification needs, or null when the process is gone. */
export function readProcessFacts(pid: number, procRoot = '/proc'): ProcessFacts | null {
  const status = readText(`${procRoot}/${pid}/status`);
  if (status === null) return null;
  const exe = readExe(pid, procRoot);
  const uid = Number((statusField(status, 'Uid') ?? '0').split(/\s+/)[0]);
  return {
    pid,
    exe,
    cgroup: readCgroupPath(pid, procRoot),
    comm: statusField(status, 'Name') ?? '',
    uid: Number.isFinite(uid) ? uid : 0,
    appImage: appImageOf(pid, exe, procRoot),
  };
}

/** The executable's (device, inode) as the kernel binds it: follows /proc/PID/exe, so a replaced file still stats. */
export function readExeInode(pid: number, procRoot = '/proc'): { dev: bigint; ino: bigint } | null {
  try {
    const stats = statSync(`${procRoot}/${pid}/exe`, { bigint: true });
    return { dev: stats.dev, ino: stats.ino };
  } catch {
    return null;
  }
}
