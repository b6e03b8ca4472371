// Writing root-owned system files: each file appears complete (written beside its target, then
// renamed over it), owned by root, with an explicit mode that the umask cannot loosen.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Writes a tree of files into place as root-owned (dirs 0755, files 0644): built in a sibling
 * directory and swapped in with renames, so the helper never sees a half-written tree. The bytes
 * are given, not read from a path here: install writes what it verified.
 */
export function replaceRootTree(files: ReadonlyMap<string, Buffer>, to: string): void {
  ensureRootDir(dirname(to));
  const fresh = siblingTemp(to);
  const old = siblingTemp(to);
  try {
    makeRootDir(fresh);
    for (const [rel, bytes] of files) {
      const parts = rel.split('/');
      if (parts.some((part) => part === '' || part === '.' || part === '..'))
        throw new Error(`${rel}: not a plain relative path`);
      for (let i = 1; i < parts.length; i++) {
        const dir = join(fresh, ...parts.slice(0, i));
        if (!exists(dir)) makeRootDir(dir);
      }
      const target = join(fresh, ...parts);
      writeFileSync(target, bytes, { mode: 0o600, flag: 'wx' });
      chownSync(target, 0, 0);
      chmodSync(target, FILE_MODE);
    }
    if (exists(to)) renameSync(to, old);
    renameSync(fresh, to);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}

function makeRootDir(path: string): void {
  mkdirSync(path, { mode: DIR_MODE });
  chownSync(path, 0, 0);
  chmodSync(path, DIR_MODE);
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
