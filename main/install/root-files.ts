// Writing root-owned system files: each file appears complete (written beside its target, then
// renamed over it), owned by root, with an explicit mode that the umask cannot loosen.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const FILE_MODE = 0o644;
export const EXEC_MODE = 0o755;
export const DIR_MODE = 0o755;

/** Makes a directory (and missing parents) root-owned 0755. */
export function ensureRootDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: DIR_MODE });
  chownSync(path, 0, 0);
  chmodSync(path, DIR_MODE);
}

export function writeRootFile(path: string, content: string | Buffer, mode: number): void {
  ensureRootDir(dirname(path));
  const temp = siblingTemp(path);
  try {
    writeFileSync(temp, content, { mode: 0o600, flag: 'wx' });
    chownSync(temp, 0, 0);
    chmodSync(temp, mode);
    renameSync(temp, path);
  } finally {
    rmSync(temp, { force: true });
  }
}

export function copyRootFile(from: string, to: string, mode: number): void {
  ensureRootDir(dirname(to));
  const temp = siblingTemp(to);
  try {
    copyFileSync(from, temp);
    chownSync(temp, 0, 0);
    chmodSync(temp, mode);
    renameSync(temp, to);
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Copies a directory tree into place as root-owned (dirs 0755, files 0644): the copy is built in a
 * sibling directory and swapped in with renames, so the helper never sees a half-copied tree.
 */
export function replaceRootTree(from: string, to: string): void {
  ensureRootDir(dirname(to));
  const fresh = siblingTemp(to);
  const old = siblingTemp(to);
  try {
    copyTree(from, fresh);
    if (exists(to)) renameSync(to, old);
    renameSync(fresh, to);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

function copyTree(from: string, to: string): void {
  mkdirSync(to, { mode: DIR_MODE });
  chownSync(to, 0, 0);
  chmodSync(to, DIR_MODE);
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) copyTree(source, target);
    else if (entry.isFile()) {
      copyFileSync(source, target);
      chownSync(target, 0, 0);
      chmodSync(target, FILE_MODE);
    } else throw new Error(`${source}: only regular files and directories may be installed`);
  }
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function siblingTemp(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
}
