// Reads what classification needs about a process from /proc, with the evidence that checks what
// its placement claims: the owner of its cgroup (who made the unit), its own /.flatpak-info, its
// AppArmor label (a snap's confinement), the AppImage runtime that mounted its executable. Never
// its environment: a process sets that itself. Processes exit at any moment, so every read may
// fail; a vanished process yields null rather than an exception. Runs as root on files processes
// control: nothing is followed out of the process's own root, only regular files are read, and
// every read is bounded.
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../common/cgroup2.js';
import type { ProcessFacts } from './classify.js';

const DELETED_SUFFIX = ' (deleted)';
/** Where AppImage runtimes mount their images (type-2 runtime: /tmp/.mount_<name><random>). */
const APPIMAGE_MOUNT = /^\/tmp\/\.mount_[^/]+\//;
const MAX_ANCESTORS = 16;
const MAX_INFO_BYTES = 64 * 1024;

export interface ProcOptions {
  procRoot?: string;
  /** The cgroup v2 mount (to find who owns a process's cgroup); found in mountinfo when not given. */
  cgroupRoot?: string | null;
}

function readText(path: string, maxBytes = 64 * 1024): string | null {
  try {
    const text = readFileSync(path);
    return text.subarray(0, maxBytes).toString('utf8');
  } catch {
    return null;
  }
}

/**
 * Up to `maxBytes` of a regular file, opened without blocking on a FIFO and (unless `follow`, for
 * /proc's own links) without following a link at its last component; null for anything else.
 */
function readRegularFile(path: string, maxBytes: number, follow = false): Buffer | null {
  let fd: number;
  try {
    const noFollow = follow ? 0 : constants.O_NOFOLLOW;
    fd = openSync(path, constants.O_RDONLY | noFollow | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    const buf = Buffer.alloc(maxBytes);
    const length = readSync(fd, buf, 0, maxBytes, 0);
    return buf.subarray(0, length);
  } catch {
    return null;
  } finally {
    closeSync(fd);
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

/** Whether a process's executable (/proc/PID/exe) starts as an AppImage runtime does: an ELF with "AI" and the type (1 or 2) at byte 8. */
function isAppImageRuntime(exeLink: string): boolean {
  const head = readRegularFile(exeLink, 11, true);
  return (
    head !== null &&
    head.length === 11 &&
    head.readUInt32BE(0) === 0x7f454c46 &&
    head[8] === 0x41 &&
    head[9] === 0x49 &&
    (head[10] === 1 || head[10] === 2)
  );
}

/**
 * The AppImage file a process runs from: its own executable when that is an AppImage runtime, or,
 * for a program inside an image's mount, the ancestor whose executable is the runtime that mounted
 * it. What the process's environment says (APPIMAGE) is not evidence.
 */
function appImageOf(pid: number, exe: string | null, procRoot: string): string | null {
  if (!exe) return null;
  if (!APPIMAGE_MOUNT.test(exe)) return isAppImageRuntime(`${procRoot}/${pid}/exe`) ? exe : null;
  let current = pid;
  for (let depth = 0; depth < MAX_ANCESTORS; depth++) {
    const status = readText(`${procRoot}/${current}/status`);
    const parent = status ? Number(statusField(status, 'PPid')) : 0;
    if (!parent) return null;
    const parentExe = readExe(parent, procRoot);
    if (parentExe && !APPIMAGE_MOUNT.test(parentExe))
      return isAppImageRuntime(`${procRoot}/${parent}/exe`) ? parentExe : null;
    current = parent;
  }
  return null;
}

/** The app id in the process's own /.flatpak-info ([Application] name=), or null. */
export function readFlatpakId(pid: number, procRoot = '/proc'): string | null {
  const info = readRegularFile(`${procRoot}/${pid}/root/.flatpak-info`, MAX_INFO_BYTES);
  if (!info) return null;
  let inApplication = false;
  for (const raw of info.toString('utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) inApplication = line === '[Application]';
    else if (inApplication && line.startsWith('name=')) return line.slice(5).trim() || null;
  }
  return null;
}

/** The process's AppArmor label without its mode ("snap.spotify.spotify"), or null when unconfined or unknown. */
export function readAppArmorLabel(pid: number, procRoot = '/proc'): string | null {
  const text =
    readText(`${procRoot}/${pid}/attr/apparmor/current`, 4096) ?? readText(`${procRoot}/${pid}/attr/current`, 4096);
  const label = text
    ?.replace(/\0/g, '')
    .trim()
    .replace(/ \([a-z]+\)$/, '');
  return label && label !== 'unconfined' ? label : null;
}

/** The script an interpreter runs (its first argument, when an absolute path), or null. */
function scriptOf(pid: number, procRoot: string): string | null {
  const args = readText(`${procRoot}/${pid}/cmdline`, 8192)?.split('\0') ?? [];
  const first = args[1];
  return first && first.startsWith('/') ? first : null;
}

/** The uid owning a cgroup's directory (the unit's maker: a user's manager, or root), or null. */
function cgroupOwnerOf(cgroup: string | null, cgroupRoot: string | null): number | null {
  if (!cgroup || !cgroupRoot) return null;
  try {
    return statSync(join(cgroupRoot, cgroup)).uid;
  } catch {
    return null;
  }
}

/** Whether the process's executable is a file only root can change (owned by root, not writable by others). */
function exeRootOwned(pid: number, procRoot: string): boolean {
  try {
    const stats = statSync(`${procRoot}/${pid}/exe`);
    return stats.uid === 0 && (stats.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

let defaultCgroupRoot: string | null | undefined;

/** Everything classification needs, or null when the process is gone. */
export function readProcessFacts(pid: number, options: ProcOptions = {}): ProcessFacts | null {
  const procRoot = options.procRoot ?? '/proc';
  const cgroupRoot = options.cgroupRoot !== undefined ? options.cgroupRoot : (defaultCgroupRoot ??= findCgroup2Mount());
  const status = readText(`${procRoot}/${pid}/status`);
  if (status === null) return null;
  const exe = readExe(pid, procRoot);
  const uid = Number((statusField(status, 'Uid') ?? '0').split(/\s+/)[0]);
  const cgroup = readCgroupPath(pid, procRoot);
  return {
    pid,
    exe,
    cgroup,
    comm: statusField(status, 'Name') ?? '',
    uid: Number.isFinite(uid) ? uid : 0,
    appImage: appImageOf(pid, exe, procRoot),
    cgroupOwner: cgroupOwnerOf(cgroup, cgroupRoot),
    flatpakId: readFlatpakId(pid, procRoot),
    appArmorLabel: readAppArmorLabel(pid, procRoot),
    script: scriptOf(pid, procRoot),
    exeRootOwned: exeRootOwned(pid, procRoot),
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
