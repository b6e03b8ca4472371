// `portcullis uninstall`: stops the installed helper, detaches and unpins its programs, and removes
// every file install put down — only what its manifest names, so a pin directory or a state
// directory shared with others keeps what is theirs. The rules database and what is in
// /etc/portcullis (helper.conf, policy files) go only with --purge, like a package's conffiles;
// the directories install made there go when empty. Each step says what it did, so the
// person (and the test) can see that nothing was left.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import { PortcullisError } from '../contract/index.js';
import { findBpffsMounts } from '../common/cgroup2.js';
import { DEFAULT_BPFFS, DEFAULT_SOCKET, DEFAULT_STATE_DIR, HELPER_CONFIG_FILE } from '../common/default-paths.js';
import { readConfigFile, type HelperPaths } from '../helper/config.js';
import { LAYOUT } from '../common/install-layout.js';
import { asPortcullisError, isOurWrapper, requireRoot, systemdRunning } from './install.js';
import { exists } from './root-files.js';
import { installedHelperPids } from './helper-processes.js';
import { removePolicyDirIfEmpty } from './policy-dir.js';
import { isPinPath, type Manifest } from './bundle.js';

/** What uninstall needs of the addon's Firewall to take the helper's pins down. */
export interface PinTools {
  /** Detaches and unpins everything under a pin directory. */
  detach(pinDir: string): Promise<void>;
  /**
   * The links a takeover set aside in a pin directory and no helper retired (it was stopped
   * first), as paths under it: they still enforce a replaced build's rules.
   */
  setAsideLinks(pinDir: string): string[];
}

export interface UninstallOptions {
  /** Also delete the rules database and /etc/portcullis. */
  purge?: boolean;
  /** The addon's Firewall (its static side). */
  firewall: PinTools;
  /** The pins the helper makes, from the manifest of the bundle uninstall runs from. */
  pins: readonly string[];
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

    done.push(await removePins(paths.bpffs, options.pins, options.firewall));
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
    done.push(removeInstalledBundle());

    if (options.purge) {
      done.push(...purgeState(paths.stateDir));
      done.push(removeTree(LAYOUT.configDir));
    } else {
      // Install made these two; what the administrator put in them stays, like a package's conffiles.
      done.push(removePolicyDirIfEmpty());
      done.push(removeEmptyDir(LAYOUT.configDir));
      done.push(`kept ${paths.stateDir} (uninstall --purge removes it and ${LAYOUT.configDir})`);
    }
    return { ok: true, done };
  } catch (error) {
    return { ok: false, error: asPortcullisError(error), done };
  }
}

/** Where the installed helper keeps pins, socket and state: defaults, moved by a valid helper.conf. */
export function installedHelperPaths(): { paths: Omit<HelperPaths, 'cgroup' | 'policyDir'>; note: string | null } {
  const defaults = { bpffs: DEFAULT_BPFFS, stateDir: DEFAULT_STATE_DIR, socket: DEFAULT_SOCKET };
  try {
    const file = readConfigFile(HELPER_CONFIG_FILE);
    return {
      paths: {
        bpffs: file.bpffs ?? defaults.bpffs,
        stateDir: file.stateDir ?? defaults.stateDir,
        socket: file.socket ?? defaults.socket,
      },
      note: null,
    };
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

/**
 * Detaches and unpins the helper's own pins and nothing else. The pin directory must be on a
 * bpffs. Our pins are moved into a fresh directory on the same bpffs first, so the addon's detach,
 * which empties whole links/ and maps/ directories, sees only them; then links/, maps/ and the pin
 * directory go if that left them empty (a bpffs root shared with others keeps what is theirs).
 */
export async function removePins(pinDir: string, pins: readonly string[], firewall: PinTools): Promise<string> {
  if (!exists(pinDir)) return `${pinDir}: no pins`;
  const onBpffs = findBpffsMounts().some(
    (mount) => pinDir === mount || pinDir.startsWith(mount.endsWith('/') ? mount : mount + '/'),
  );
  if (!onBpffs)
    throw new PortcullisError('invalid-input', `${pinDir} is not on a bpf filesystem; refusing to remove it`, {
      where: pinDir,
    });
  // The manifest's pins, and the links a takeover set aside (retired/ is the helper's own directory).
  const ours = [
    ...pins.filter((pin) => isPinPath(pin) && exists(join(pinDir, pin))),
    ...firewall.setAsideLinks(pinDir),
  ];
  if (ours.length > 0) {
    // bpffs refuses names with a dot, so this one cannot be hidden.
    const staging = join(pinDir, `portcullis-uninstall-${randomBytes(4).toString('hex')}`);
    for (const dir of ['', 'links', 'maps', 'retired']) mkdirSync(join(staging, dir), { mode: 0o700 });
    for (const pin of ours) renameSync(join(pinDir, pin), join(staging, pin));
    await firewall.detach(staging);
    // Only our pins were moved there: whatever detach left of it is ours to remove.
    if (exists(staging)) rmSync(staging, { recursive: true, force: true });
  }
  const kept = [join(pinDir, 'links'), join(pinDir, 'maps'), join(pinDir, 'retired'), pinDir].filter(
    (dir) => !removeDirIfEmpty(dir),
  );
  const what = ours.length > 0 ? `detached and unpinned ${ours.length} pin(s)` : "none of the helper's pins";
  return `${pinDir}: ${what}${kept.length > 0 ? `; kept ${kept.join(', ')} (not empty: not ours)` : ''}`;
}

/** The installed bundle's files, as its manifest lists them, then its directories if that emptied them. */
function removeInstalledBundle(): string {
  if (!exists(LAYOUT.libDir)) return `${LAYOUT.libDir}: absent`;
  let manifest: Pick<Manifest, 'files'>;
  try {
    manifest = JSON.parse(readFileSync(LAYOUT.manifest, 'utf8')) as Manifest;
  } catch {
    return `${LAYOUT.libDir}: no readable manifest, so nothing in it is known to be ours; left alone`;
  }
  const dirs = new Set<string>();
  for (const file of [...Object.keys(manifest.files ?? {}), 'manifest.json']) {
    if (file.split('/').includes('..')) continue;
    rmSync(join(LAYOUT.libDir, file), { force: true });
    for (let dir = dirname(file); dir !== '.'; dir = dirname(dir)) dirs.add(dir);
  }
  // Deepest first, so a parent is tried after its children.
  for (const dir of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length))
    removeDirIfEmpty(join(LAYOUT.libDir, dir));
  return removeDirIfEmpty(LAYOUT.libDir)
    ? `${LAYOUT.libDir}: removed`
    : `${LAYOUT.libDir}: removed its files; kept what the manifest does not name`;
}

/** rmdir: true when the directory is gone (or was never there). */
function removeDirIfEmpty(path: string): boolean {
  if (!exists(path)) return true;
  try {
    rmdirSync(path);
    return true;
  } catch {
    return false;
  }
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
  return removeDirIfEmpty(path) ? `${path}: removed` : `${path}: not empty, left alone`;
}
