// Reading a helper bundle for install, as root, from a directory its builder (a user) can still
// change: every entry is opened without following links and checked with fstat on the open
// descriptor, every file is read from that descriptor and hashed, and install writes exactly those
// bytes. A link or file swapped in after the check cannot change what is installed, and no link
// in the bundle is ever followed as root.
import { closeSync, constants, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PortcullisError } from '../contract/index.js';
import { BUNDLE_FILES, LAYOUT } from '../common/install-layout.js';
import { isPinPath, type Manifest } from './bundle.js';

export interface VerifiedBundle {
  manifest: Manifest;
  /** The manifest as read (install writes these bytes, not a re-encoding). */
  manifestBytes: Buffer;
  /** Relative path ('/'-separated) -> the bytes that were hashed, every file but the manifest. */
  files: Map<string, Buffer>;
}

/** More than any bundle holds (about 10 MB); a bound on what install reads into memory. */
const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;
const OPEN_NO_FOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A bundle is installed only when it is exactly what its manifest lists, built for /usr/bin/node's ABI. */
export function verifyBundle(bundleDir: string): VerifiedBundle {
  const bad = (why: string) =>
    new PortcullisError('invalid-input', `helper bundle ${bundleDir}: ${why}`, { where: bundleDir });
  const files = readTreeNoFollow(bundleDir, bad);
  const manifestBytes = files.get(BUNDLE_FILES.manifest);
  if (!manifestBytes) throw bad(`no ${BUNDLE_FILES.manifest} (build one with npm run build:helper-bundle)`);
  files.delete(BUNDLE_FILES.manifest);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestBytes.toString('utf8')) as Manifest;
  } catch (error) {
    throw bad(`${BUNDLE_FILES.manifest} is not JSON (${(error as Error).message})`);
  }
  if (manifest.name !== 'portcullis-helper-bundle' || typeof manifest.files !== 'object' || manifest.files === null)
    throw bad('not a Portcullis helper bundle manifest');
  if (!Array.isArray(manifest.pins) || !manifest.pins.every(isPinPath))
    throw bad('its manifest does not list the pins the helper makes (pins: ["links/NAME", "maps/NAME", ...])');
  for (const [file, hash] of Object.entries(manifest.files)) {
    const bytes = files.get(file);
    if (bytes === undefined) throw bad(`${file} is listed in the manifest but missing`);
    if (sha256Of(bytes) !== hash) throw bad(`${file} does not match its hash in the manifest`);
  }
  const extra = [...files.keys()].filter((file) => manifest.files[file] === undefined);
  if (extra.length > 0) throw bad(`files not in the manifest: ${extra.slice(0, 5).join(', ')}`);
  for (const file of Object.values(BUNDLE_FILES)) {
    if (file !== BUNDLE_FILES.manifest && !files.has(file)) throw bad(`${file} is missing`);
  }
  const nodeAbi = execFileSync(LAYOUT.node, ['-p', 'process.versions.modules'], { env: {}, encoding: 'utf8' }).trim();
  if (nodeAbi !== manifest.nodeAbi) {
    throw bad(
      `built for Node ABI ${manifest.nodeAbi}, but ${LAYOUT.node} has ABI ${nodeAbi}: rebuild the bundle with that node`,
    );
  }
  return { manifest, manifestBytes, files };
}

export function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Every regular file under root, read through descriptors: root is opened once (the caller's path),
 * and each entry below it through its parent's open descriptor (/proc/self/fd/N/NAME resolves N
 * itself, not a path someone could change) with O_NOFOLLOW. A link, device or FIFO is refused.
 */
function readTreeNoFollow(root: string, bad: (why: string) => Error): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let total = 0;
  let rootFd: number;
  try {
    rootFd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    throw bad(`cannot open it (${(error as NodeJS.ErrnoException).code})`);
  }
  const walk = (dirFd: number, prefix: string) => {
    for (const name of readdirSync(`/proc/self/fd/${dirFd}`).sort()) {
      const rel = prefix + name;
      let fd: number;
      try {
        fd = openSync(`/proc/self/fd/${dirFd}/${name}`, OPEN_NO_FOLLOW);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw bad(
          code === 'ELOOP'
            ? `${rel} is a symbolic link; a bundle holds only files and directories`
            : `cannot open ${rel} (${code})`,
        );
      }
      try {
        const stats = fstatSync(fd);
        if (stats.isDirectory()) {
          walk(fd, `${rel}/`);
        } else if (stats.isFile()) {
          total += stats.size;
          if (total > MAX_BUNDLE_BYTES) throw bad(`larger than ${MAX_BUNDLE_BYTES} bytes`);
          files.set(rel, readFileSync(fd));
        } else {
          throw bad(`${rel} is not a regular file or directory`);
        }
      } finally {
        closeSync(fd);
      }
    }
  };
  try {
    walk(rootFd, '');
  } finally {
    closeSync(rootFd);
  }
  return files;
}

/** For callers that name a bundle file by its place in the bundle. */
export function bundleFile(bundle: VerifiedBundle, file: string): Buffer {
  const bytes = bundle.files.get(file);
  if (!bytes) throw new PortcullisError('internal', `the verified bundle has no ${file}`);
  return bytes;
}
