// `portcullis install`: puts a verified helper bundle, the launcher, the polkit action, the CLI
// wrapper and (optionally) the systemd unit in their fixed root-owned places. Run as root: by the
// deb's postinst, by `sudo portcullis install`, or through pkexec from the wizard.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { hashTree, type Manifest } from './bundle.js';
import { BUNDLE_FILES, LAYOUT } from '../common/install-layout.js';
import { installedHelperPids } from './helper-processes.js';
import {
  copyRootFile,
  ensureRootDir,
  EXEC_MODE,
  exists,
  FILE_MODE,
  replaceRootTree,
  writeRootFile,
} from './root-files.js';

export interface InstallOptions {
  /** A bundle built by main/install/bundle.ts (build/helper-bundle, or the package's resources/helper). */
  bundleDir: string;
  /** Also install and enable the systemd unit (enforcement from boot). */
  systemd?: boolean;
}

export type InstallResult =
  | { ok: true; done: string[]; notes: string[] }
  | { ok: false; error: PortcullisError; done: string[] };

/** Marks the CLI wrapper as ours, so install never overwrites someone else's /usr/bin/portcullis. */
export const WRAPPER_MARK = '# portcullis-cli-wrapper';
const CLI_WRAPPER = `#!/bin/sh\n${WRAPPER_MARK}: the Portcullis CLI from the installed bundle.\nexec ${LAYOUT.node} ${LAYOUT.cliEntry} "$@"\n`;

export function install(options: InstallOptions): InstallResult {
  const done: string[] = [];
  try {
    requireRoot('install');
    const manifest = verifyBundle(options.bundleDir);
    const notes: string[] = [];

    replaceRootTree(options.bundleDir, LAYOUT.libDir);
    done.push(`${LAYOUT.libDir} (helper bundle ${manifest.version}, ${Object.keys(manifest.files).length} files)`);
    copyRootFile(join(options.bundleDir, BUNDLE_FILES.launcher), LAYOUT.launcher, EXEC_MODE);
    done.push(LAYOUT.launcher);
    copyRootFile(join(options.bundleDir, BUNDLE_FILES.policy), LAYOUT.policy, FILE_MODE);
    done.push(LAYOUT.policy);
    copyRootFile(join(options.bundleDir, BUNDLE_FILES.managePolicy), LAYOUT.managePolicy, FILE_MODE);
    done.push(LAYOUT.managePolicy);

    if (exists(LAYOUT.cliWrapper) && !isOurWrapper(LAYOUT.cliWrapper)) {
      notes.push(
        `${LAYOUT.cliWrapper} exists and is not Portcullis's; left alone (run ${LAYOUT.cliEntry} with ${LAYOUT.node})`,
      );
    } else {
      writeRootFile(LAYOUT.cliWrapper, CLI_WRAPPER, EXEC_MODE);
      done.push(LAYOUT.cliWrapper);
    }

    if (options.systemd) {
      copyRootFile(join(options.bundleDir, BUNDLE_FILES.unit), LAYOUT.unit, FILE_MODE);
      done.push(LAYOUT.unit);
      notes.push(enableUnit());
    }

    selfCheck();
    done.push(`self-check: ${LAYOUT.node} loads the installed addon and better-sqlite3`);
    notes.push(...restartNotes());
    return { ok: true, done, notes };
  } catch (error) {
    return { ok: false, error: asPortcullisError(error), done };
  }
}

/** A helper that was running keeps the code it loaded; systemd's is restarted, others are named. */
function restartNotes(): string[] {
  if (systemdRunning() && exists(LAYOUT.unitWantsLink)) {
    execFileSync('systemctl', ['try-restart', 'portcullis-helper.service'], { stdio: 'pipe' });
    return ['portcullis-helper.service restarted on the new version'];
  }
  const pids = installedHelperPids();
  return pids.length > 0
    ? [
        `a helper started before this install still runs the previous version (pid ${pids.join(', ')}); restart it from the app`,
      ]
    : [];
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new PortcullisError('unauthorized', `${what} needs root: run \`sudo portcullis ${what}\``);
  }
}

/** A bundle is installed only when it is exactly what its manifest lists, built for /usr/bin/node's ABI. */
export function verifyBundle(bundleDir: string): Manifest {
  const manifestPath = join(bundleDir, BUNDLE_FILES.manifest);
  const bad = (why: string) =>
    new PortcullisError('invalid-input', `helper bundle ${bundleDir}: ${why}`, { where: bundleDir });
  if (!existsSync(manifestPath)) throw bad(`no ${BUNDLE_FILES.manifest} (build one with npm run build:helper-bundle)`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
  } catch (error) {
    throw bad(`${BUNDLE_FILES.manifest} is not JSON (${(error as Error).message})`);
  }
  if (manifest.name !== 'portcullis-helper-bundle' || typeof manifest.files !== 'object')
    throw bad('not a Portcullis helper bundle manifest');
  const actual = hashTree(bundleDir);
  for (const [file, hash] of Object.entries(manifest.files)) {
    if (actual[file] === undefined) throw bad(`${file} is listed in the manifest but missing`);
    if (actual[file] !== hash) throw bad(`${file} does not match its hash in the manifest`);
  }
  const extra = Object.keys(actual).filter((file) => manifest.files[file] === undefined);
  if (extra.length > 0) throw bad(`files not in the manifest: ${extra.slice(0, 5).join(', ')}`);
  for (const file of Object.values(BUNDLE_FILES)) {
    if (file !== BUNDLE_FILES.manifest && actual[file] === undefined) throw bad(`${file} is missing`);
  }
  const nodeAbi = execFileSync(LAYOUT.node, ['-p', 'process.versions.modules'], { env: {}, encoding: 'utf8' }).trim();
  if (nodeAbi !== manifest.nodeAbi) {
    throw bad(
      `built for Node ABI ${manifest.nodeAbi}, but ${LAYOUT.node} has ABI ${nodeAbi}: rebuild the bundle with that node`,
    );
  }
  return manifest;
}

/** Loads the installed native parts with the installed node and a clean environment. */
function selfCheck(): void {
  try {
    execFileSync(LAYOUT.node, [LAYOUT.installEntry, 'self-check'], {
      env: {},
      cwd: '/',
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new PortcullisError(
      'internal',
      `the installed helper bundle does not load: ${stderr.trim() || (error as Error).message}`,
    );
  }
}

export function isOurWrapper(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').includes(WRAPPER_MARK);
  } catch {
    return false;
  }
}

export function systemdRunning(): boolean {
  return existsSync('/run/systemd/system');
}

function enableUnit(): string {
  if (systemdRunning()) {
    execFileSync('systemctl', ['daemon-reload'], { stdio: 'pipe' });
    execFileSync('systemctl', ['enable', '--now', 'portcullis-helper.service'], { stdio: 'pipe' });
    return 'portcullis-helper.service enabled and started';
  }
  // No systemd running (a container, a chroot): enable it the way systemctl would, for the next boot.
  ensureRootDir(dirname(LAYOUT.unitWantsLink));
  if (!exists(LAYOUT.unitWantsLink)) symlinkSync(LAYOUT.unit, LAYOUT.unitWantsLink);
  return 'systemd is not running here: portcullis-helper.service is enabled for the next boot';
}

export function asPortcullisError(error: unknown): PortcullisError {
  if (error instanceof PortcullisError) return error;
  const err = error as NodeJS.ErrnoException;
  return new PortcullisError('internal', err.message ?? String(error), err.code ? { detail: err.code } : {});
}
