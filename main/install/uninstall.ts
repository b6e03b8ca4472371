// `portcullis uninstall`: stops the installed helper, detaches and unpins its programs, and removes
// every file install put down. The rules database and /etc/portcullis (helper.conf) go only with
// --purge, like a package's conffiles. Each step says what it did, so the person (and the test)
// can see that nothing was left.
import { execFileSync } from 'node:child_process';
import { lstatSync, readFileSync, rmSync, rmdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { findBpffsMounts } from '../common/cgroup2.js';
import { DEFAULT_BPFFS, DEFAULT_SOCKET, DEFAULT_STATE_DIR, HELPER_CONFIG_FILE } from '../common/default-paths.js';
import { readConfigFile, type HelperPaths } from '../helper/config.js';
import { LAYOUT } from '../common/install-layout.js';
import { asPortcullisError, isOurWrapper, requireRoot, systemdRunning } from './install.js';
import { exists } from './root-files.js';
import { installedHelperPids } from './helper-processes.js';

export interface UninstallOptions {
  /** Also delete the rules database and /etc/portcullis. */
  purge?: boolean;
  /** Detaches and unpins everything under a pin directory (the addon's Firewall.detach). */
  detach: (pinDir: string) => Promise<void>;
  /** How long a helper gets to exit after SIGTERM before SIGKILL. */
  stopTimeoutMs?: number;
}

export type UninstallResult = { ok: true; done: string[] } | { ok: false; error: PortcullisError; done: string[] };

/** The SQLite files the helper keeps in its state directory. */
const DATABASE_FILES = ['portcullis.db', 'portcullis.db-wal', 'portcullis.db-shm'];

export async function uninstall(options: UninstallOptions): Promise<UninstallResult> {
  const done: string[] = [];
  try {
    requireRoot('uninstall');
    // Read before anything is removed: helper.conf says where the pins, socket and state are.
    const { paths, note } = installedHelperPaths();
    if (note) done.push(note);

    if (exists(LAYOUT.unit) || exists(LAYOUT.unitWantsLink)) done.push(disableUnit());
    const stopped = await stopInstalledHelpers(options.stopTimeoutMs ?? 5000);
    done.push(stopped.length > 0 ? `stopped helper pid ${stopped.join(', ')}` : 'no installed helper was running');

    done.push(await removePins(paths.bpffs, options.detach));
    done.push(removeIf(paths.socket, (s) => s.isSocket()));
    done.push(removeEmptyDir(LAYOUT.runtimeDir));

    for (const path of [LAYOUT.unitWantsLink, LAYOUT.unit, LAYOUT.policy, LAYOUT.managePolicy, LAYOUT.launcher])
      done.push(removeIf(path, () => true));
    done.push(removeEmptyDir(LAYOUT.libexecDir));
    done.push(
      isOurWrapper(LAYOUT.cliWrapper)
        ? removeIf(LAYOUT.cliWrapper, () => true)
        : `${LAYOUT.cliWrapper}: not ours or absent, left alone`,
    );
    done.push(removeTree(LAYOUT.libDir));

    if (options.purge) {
      done.push(...purgeState(paths.stateDir));
      done.push(removeTree(LAYOUT.configDir));
    } else {
      done.push(`kept ${paths.stateDir} and ${LAYOUT.configDir} (uninstall --purge removes them)`);
    }
    return { ok: true, done };
  } catch (error) {
    return { ok: false, error: asPortcullisError(error), done };
  }
}

/** Where the installed helper keeps pins, socket and state: defaults, moved by a valid helper.conf. */
export function installedHelperPaths(): { paths: Omit<HelperPaths, 'cgroup'>; note: string | null } {
  const defaults = { bpffs: DEFAULT_BPFFS, stateDir: DEFAULT_STATE_DIR, socket: DEFAULT_SOCKET };
  try {
    return { paths: { ...defaults, ...readConfigFile(HELPER_CONFIG_FILE) }, note: null };
  } catch (error) {
    return { paths: defaults, note: `${(error as Error).message}; using the default paths` };
  }
}

async function stopInstalledHelpers(timeoutMs: number): Promise<number[]> {
  const pids = installedHelperPids();
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of pids.filter(isAlive)) signal(pid, 'SIGKILL');
  return pids;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    // A zombie still answers kill(0); it counts as gone.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .startsWith('Z');
  } catch {
    return false;
  }
}

function disableUnit(): string {
  if (systemdRunning()) {
    try {
      execFileSync('systemctl', ['disable', '--now', 'portcullis-helper.service'], { stdio: 'pipe' });
    } catch (error) {
      return `systemctl disable failed (${(error as Error).message.split('\n')[0]}); removing the unit files anyway`;
    }
    return 'portcullis-helper.service stopped and disabled';
  }
  return 'systemd is not running: nothing to stop';
}

/** Detaches (the addon) and unpins; the pin directory must be on a bpffs, never anywhere else. */
export async function removePins(pinDir: string, detach: (pinDir: string) => Promise<void>): Promise<string> {
  if (!exists(pinDir)) return `${pinDir}: no pins`;
  const onBpffs = findBpffsMounts().some(
    (mount) => pinDir === mount || pinDir.startsWith(mount.endsWith('/') ? mount : mount + '/'),
  );
  if (!onBpffs)
    throw new PortcullisError('invalid-input', `${pinDir} is not on a bpf filesystem; refusing to remove it`, {
      where: pinDir,
    });
  await detach(pinDir);
  if (exists(pinDir)) rmSync(pinDir, { recursive: true, force: true });
  return `${pinDir}: detached and unpinned`;
}

function purgeState(stateDir: string): string[] {
  if (stateDir === DEFAULT_STATE_DIR) return [removeTree(stateDir)];
  // A state directory helper.conf moved elsewhere may hold other things: only our files go.
  const out = DATABASE_FILES.map((file) => removeIf(join(stateDir, file), (s) => s.isFile()));
  out.push(removeEmptyDir(stateDir));
  return out;
}

function removeIf(path: string, ok: (stats: Stats) => boolean): string {
  if (!exists(path)) return `${path}: absent`;
  if (!ok(lstatSync(path))) return `${path}: not what Portcullis made, left alone`;
  rmSync(path, { force: true });
  return `${path}: removed`;
}

function removeTree(path: string): string {
  if (!exists(path)) return `${path}: absent`;
  rmSync(path, { recursive: true, force: true });
  return `${path}: removed`;
}

function removeEmptyDir(path: string): string {
  if (!exists(path)) return `${path}: absent`;
  try {
    rmdirSync(path);
    return `${path}: removed`;
  } catch {
    return `${path}: not empty, left alone`;
  }
}
