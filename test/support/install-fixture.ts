// A real system install for tests: a helper bundle built from this tree, installed to the fixed
// system paths (there is no prefix to install elsewhere, on purpose), a helper.conf pointing the
// installed helper at the test's own cgroup, private bpffs and temp state/socket, and a cleanup
// that uninstalls and then removes anything uninstall might have missed.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BUNDLE_ENTRIES, buildBundle } from '../../main/install/bundle.js';
import { LAYOUT } from '../../main/common/install-layout.js';
import { installedHelperPids } from '../../main/install/helper-processes.js';
import { DEFAULT_STATE_DIR, HELPER_CONFIG_FILE } from '../../main/common/default-paths.js';
import { findBpffsMounts } from '../../main/common/cgroup2.js';
import { Firewall } from '../../native/index.js';
import { REPO_ROOT } from './helper-process.js';
import type { Sandbox } from './sandbox.js';

/** Every path install may create, for "nothing left" checks and the safety net. */
export const INSTALLED_PATHS = [
  LAYOUT.libDir,
  LAYOUT.libexecDir,
  LAYOUT.launcher,
  LAYOUT.policy,
  LAYOUT.managePolicy,
  LAYOUT.unit,
  LAYOUT.unitWantsLink,
  LAYOUT.cliWrapper,
  LAYOUT.configDir,
];

export interface TestInstall {
  bundleDir: string;
  cgroup: string;
  /** The pin directory inside the test's private bpffs. */
  pinDir: string;
  stateDir: string;
  socket: string;
}

/**
 * Refuses to run over a real install: the tests replace and then remove these paths. An install a
 * test run left behind when it was killed (its helper.conf names a test cgroup, which only
 * writeTestHelperConf writes) is removed first instead: no person's install looks like that.
 */
export function assertNotInstalled(): void {
  if (leftoverOfTestRun()) removeInstalledFiles();
  const present = [...INSTALLED_PATHS, DEFAULT_STATE_DIR].filter((path) => existsSync(path));
  if (present.length > 0)
    throw new Error(
      `Portcullis is installed on this machine (${present.join(', ')}); these tests install to the real paths and would remove it`,
    );
}

function leftoverOfTestRun(): boolean {
  if (existsSync(DEFAULT_STATE_DIR) || !existsSync(HELPER_CONFIG_FILE)) return false;
  try {
    const conf = JSON.parse(readFileSync(HELPER_CONFIG_FILE, 'utf8')) as { cgroup?: unknown };
    return typeof conf.cgroup === 'string' && basename(conf.cgroup).startsWith('portcullis-test-install-');
  } catch {
    return false;
  }
}

/** uninstall --purge, the installed helper killed, then whatever is still there removed. */
function removeInstalledFiles(): void {
  if (existsSync(LAYOUT.installEntry))
    spawnSync(LAYOUT.node, [LAYOUT.installEntry, 'uninstall', '--purge'], { env: {}, stdio: 'ignore' });
  for (const pid of installedHelperPids()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const path of INSTALLED_PATHS) rmSync(path, { recursive: true, force: true });
}

/** Compiles what the bundle's entries import (tsc follows the imports) and builds a bundle from it. */
export function buildTestBundle(sandbox: Sandbox): string {
  const work = sandbox.makeTempDir('bundle');
  const compiled = join(work, 'compiled');
  const tsconfig = join(work, 'tsconfig.json');
  writeFileSync(
    tsconfig,
    JSON.stringify({
      extends: join(REPO_ROOT, 'tsconfig.main.json'),
      compilerOptions: { outDir: compiled, sourceMap: false, typeRoots: [join(REPO_ROOT, 'node_modules/@types')] },
      include: [],
      files: Object.values(BUNDLE_ENTRIES).map((entry) => join(REPO_ROOT, entry.replace(/\.js$/, '.ts'))),
    }),
  );
  const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', tsconfig], {
    encoding: 'utf8',
  });
  // Type errors do not stop tsc from emitting; report them only if the bundle cannot be built.
  const bundleDir = join(work, 'bundle');
  try {
    buildBundle({ repoRoot: REPO_ROOT, compiledRoot: compiled, outDir: bundleDir });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${tsc.stdout}`);
  }
  return bundleDir;
}

/**
 * Writes /etc/portcullis/helper.conf for the sandbox's cgroup, bpffs, state dir and socket (the
 * socket's directory world-traversable, so test users reach it). `pinsAtBpffsRoot` points the
 * helper's pin directory at the private bpffs's root itself, as a person might configure it.
 */
export function writeTestHelperConf(
  sandbox: Sandbox,
  options: { pinsAtBpffsRoot?: boolean } = {},
): Omit<TestInstall, 'bundleDir'> {
  const cgroup = sandbox.makeCgroup('install');
  const bpffs = sandbox.makeBpffs();
  const pinDir = options.pinsAtBpffsRoot ? bpffs : join(bpffs, 'portcullis');
  const base = sandbox.makeTempDir('install');
  chmodSync(base, 0o755);
  const stateDir = join(base, 'state');
  const socketDir = join(base, 'run');
  mkdirSync(socketDir, { mode: 0o755 });
  const socket = join(socketDir, 'helper.sock');
  const createdDir = !existsSync(LAYOUT.configDir);
  mkdirSync(LAYOUT.configDir, { recursive: true, mode: 0o755 });
  writeFileSync(HELPER_CONFIG_FILE, JSON.stringify({ cgroup, bpffs: pinDir, stateDir, socket }, null, 2) + '\n', {
    mode: 0o644,
  });
  chmodSync(HELPER_CONFIG_FILE, 0o644);
  sandbox.defer(() => {
    rmSync(HELPER_CONFIG_FILE, { force: true });
    if (createdDir) rmSync(LAYOUT.configDir, { recursive: true, force: true });
  });
  return { cgroup, pinDir, stateDir, socket };
}

/** Registers the safety net: uninstall --purge, then remove whatever is still there. */
export function deferUninstall(sandbox: Sandbox, pinDir: string | null): void {
  sandbox.defer(async () => {
    removeInstalledFiles();
    if (pinDir) {
      await Firewall.detach(pinDir).catch(() => {
        /* nothing pinned */
      });
    }
  });
}

/** Runs the installer of a bundle, as root, like the deb's postinst does. */
export function installBundle(bundleDir: string): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(LAYOUT.node, [join(bundleDir, 'portcullis-install.js'), 'install', '--bundle', bundleDir], {
    env: {},
    encoding: 'utf8',
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Mounts bpffs at /sys/fs/bpf when it is not (doctor checks the system one); undone on cleanup. */
export function ensureSystemBpffs(sandbox: Sandbox): void {
  if (findBpffsMounts().includes('/sys/fs/bpf')) return;
  execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  sandbox.defer(() => {
    execFileSync('umount', ['/sys/fs/bpf']);
  });
}
