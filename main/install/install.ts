// `portcullis install`: puts a verified helper bundle, the launcher, the polkit action, the CLI
// wrapper, the policy directory and (optionally) the systemd unit in their fixed root-owned places. Run as root: by the
// deb's postinst, by `sudo portcullis install`, or through pkexec from the wizard.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { BUNDLE_FILES, LAYOUT } from '../common/install-layout.js';
import { installedHelperPids } from './helper-processes.js';
import { ensureRootDir, EXEC_MODE, exists, FILE_MODE, replaceRootTree, writeRootFile } from './root-files.js';
import { bundleFile, verifyBundle } from './verified-bundle.js';
import { ensurePolicyDir } from './policy-dir.js';
import { trustedPathProblems } from './trusted-path.js';

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
    requireTrustedNode();
    // What was verified is what is written: the bytes read (without following links) and hashed.
    const bundle = verifyBundle(options.bundleDir);
    const { manifest } = bundle;
    const notes: string[] = [];

    replaceRootTree(new Map([...bundle.files, [BUNDLE_FILES.manifest, bundle.manifestBytes]]), LAYOUT.libDir);
    done.push(`${LAYOUT.libDir} (helper bundle ${manifest.version}, ${Object.keys(manifest.files).length} files)`);
    writeRootFile(LAYOUT.launcher, bundleFile(bundle, BUNDLE_FILES.launcher), EXEC_MODE);
    done.push(LAYOUT.launcher);
    writeRootFile(LAYOUT.policy, bundleFile(bundle, BUNDLE_FILES.policy), FILE_MODE);
    done.push(LAYOUT.policy);
    writeRootFile(LAYOUT.managePolicy, bundleFile(bundle, BUNDLE_FILES.managePolicy), FILE_MODE);
    done.push(LAYOUT.managePolicy);

    if (exists(LAYOUT.cliWrapper) && !isOurWrapper(LAYOUT.cliWrapper)) {
      notes.push(
        `${LAYOUT.cliWrapper} exists and is not Portcullis's; left alone (run ${LAYOUT.cliEntry} with ${LAYOUT.node})`,
      );
    } else {
      writeRootFile(LAYOUT.cliWrapper, CLI_WRAPPER, EXEC_MODE);
      done.push(LAYOUT.cliWrapper);
    }

    const policyDir = ensurePolicyDir();
    done.push(...policyDir.made);
    notes.push(...policyDir.notes);

    if (options.systemd) {
      writeRootFile(LAYOUT.unit, bundleFile(bundle, BUNDLE_FILES.unit), FILE_MODE);
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

/**
 * Install runs /usr/bin/node as root (and so will the launcher and the CLI wrapper): refused unless
 * it and everything on the way to it, every symbolic link hop included, is root's alone.
 */
function requireTrustedNode(): void {
  const problems = trustedPathProblems(LAYOUT.node);
  if (problems.length > 0) {
    throw new PortcullisError(
      'invalid-input',
      `${LAYOUT.node} cannot be trusted to run as root: ${problems.join('; ')}. Install Node.js from root-owned system packages, or make ${LAYOUT.node} point at such a copy`,
      { where: LAYOUT.node },
    );
  }
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
