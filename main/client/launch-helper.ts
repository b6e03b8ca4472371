// Starts the installed helper through polkit: `pkexec <launcher>`, spawned directly (no shell, no
// arguments for the launcher, nothing from our environment reaches the helper — pkexec and the
// launcher both drop it). pkexec exec's the launcher, which exec's node, so the process we spawn
// becomes the helper itself once authorised. Used by Electron main and the CLI.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortcullisError, type HelperState } from '../contract/index.js';
import { BUNDLE_FILES, LAYOUT } from '../common/install-layout.js';

/** Where the packages and `portcullis install` put the launcher (the polkit action names this path). */
export const INSTALLED_LAUNCHER = LAYOUT.launcher;
export const PKEXEC = '/usr/bin/pkexec';

/** pkexec's own exit codes (pkexec(1)); any other code is the launched program's. */
export const PKEXEC_DISMISSED = 126;
export const PKEXEC_NOT_AUTHORISED = 127;

export interface LaunchOptions {
  /** Resolves true once the helper answers on its socket (the caller's client does the hello). */
  isReady: () => Promise<boolean>;
  launcher?: string;
  pkexec?: string;
  /** How long to wait for the person to authenticate and the helper to answer. */
  timeoutMs?: number;
  pollMs?: number;
  /** Directory for the helper's log (its stdout and stderr); a fresh private one by default. */
  logDir?: string;
}

export type LaunchResult =
  | { ok: true; alreadyRunning: true }
  | { ok: true; alreadyRunning: false; pid: number; logPath: string }
  | { ok: false; error: PortcullisError; logPath: string | null };

/**
 * Runs pkexec on the launcher and waits until the helper answers, pkexec gives up, or the helper
 * exits. Expected failures (dismissed, not authorised, not installed, helper refused to start) are
 * values with a kind: 'cancelled', 'unauthorized', 'unavailable', 'internal'.
 */
export async function launchHelper(options: LaunchOptions): Promise<LaunchResult> {
  const launcher = options.launcher ?? INSTALLED_LAUNCHER;
  const pkexec = options.pkexec ?? PKEXEC;
  // A helper that already answers needs no second one (and no password dialog).
  if (await options.isReady().catch(() => false)) return { ok: true, alreadyRunning: true };
  const missing = missingPiece(pkexec, launcher);
  if (missing) return { ok: false, error: missing, logPath: null };

  const logDir = options.logDir ?? mkdtempSync(join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), 'portcullis-helper-'));
  const logPath = join(logDir, 'helper.log');
  // A launch that never got a helper running leaves no log behind (its tail is in the error).
  const failed = (error: PortcullisError): LaunchResult => {
    if (!options.logDir) rmSync(logDir, { recursive: true, force: true });
    return { ok: false, error, logPath: null };
  };
  const logFd = openSync(logPath, 'a', 0o600);
  // Detached with its output in a file we own: the helper outlives this process (the app may quit
  // while enforcement goes on) and never writes into a pipe that nobody reads.
  const child = spawn(pkexec, [launcher], { stdio: ['ignore', logFd, logFd], detached: true, shell: false });
  closeSync(logFd);

  const seen: { end: ChildEnd | null } = { end: null };
  child.once('exit', (code, signal) => {
    seen.end ??= { code, signal };
  });
  child.once('error', (spawnError) => {
    seen.end ??= { spawnError };
  });
  const deadline = Date.now() + (options.timeoutMs ?? 5 * 60_000);
  const pollMs = options.pollMs ?? 100;

  for (;;) {
    await sleep(pollMs);
    const end = seen.end;
    if (end && 'spawnError' in end)
      return failed(new PortcullisError('unavailable', `could not run ${pkexec}: ${end.spawnError.message}`));
    if (end) return failed(exitError(end.code, end.signal, logPath));
    if (await options.isReady().catch(() => false)) {
      child.unref();
      return { ok: true, alreadyRunning: false, pid: child.pid ?? -1, logPath };
    }
    if (Date.now() > deadline) {
      child.unref();
      const message = 'the helper did not answer in time (is the authentication dialog still open?)';
      return {
        ok: false,
        error: new PortcullisError('unavailable', message, { detail: logTail(logPath) ?? '' }),
        logPath,
      };
    }
  }
}

type ChildEnd = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: Error };

export type InstallerRun = { ok: true; output: string } | { ok: false; error: PortcullisError; output: string };

/**
 * `portcullis install` / `uninstall` through pkexec, for the wizard (the AppImage has no package
 * scripts). pkexec's generic exec action asks for an administrator and shows the command; install
 * copies the bundle out of wherever it is (an AppImage mount) into root-owned /usr/lib/portcullis,
 * uninstall runs the installed copy's own uninstaller.
 */
export async function runInstallerWithPkexec(
  request: { action: 'install'; bundleDir: string } | { action: 'uninstall'; purge?: boolean },
  options: { pkexec?: string } = {},
): Promise<InstallerRun> {
  const pkexec = options.pkexec ?? PKEXEC;
  const args =
    request.action === 'install'
      ? [LAYOUT.node, join(request.bundleDir, BUNDLE_FILES.installEntry), 'install', '--bundle', request.bundleDir]
      : [LAYOUT.node, LAYOUT.installEntry, 'uninstall', ...(request.purge ? ['--purge'] : [])];
  const child = spawn(pkexec, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const end = await new Promise<ChildEnd>((resolve) => {
    child.once('error', (spawnError) => resolve({ spawnError }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  if ('spawnError' in end)
    return {
      ok: false,
      error: new PortcullisError('unavailable', `could not run ${pkexec}: ${end.spawnError.message}`),
      output,
    };
  if (end.code === 0) return { ok: true, output };
  if (end.code === PKEXEC_DISMISSED || end.code === PKEXEC_NOT_AUTHORISED) {
    const error = exitError(end.code, null, null);
    const what = request.action === 'install' ? 'Portcullis was not installed' : 'Portcullis was not uninstalled';
    return {
      ok: false,
      error: new PortcullisError(
        error.kind,
        `${error.kind === 'cancelled' ? 'authentication was cancelled' : 'not authorised'}; ${what}`,
      ),
      output,
    };
  }
  return {
    ok: false,
    error: new PortcullisError(
      'internal',
      `${request.action} failed: ${lastLine(output.trim()) || `status ${end.code ?? end.signal}`}`,
      { detail: output },
    ),
    output,
  };
}

/** What a pkexec exit means, in words a person can act on. */
export function exitError(code: number | null, signal: NodeJS.Signals | null, logPath: string | null): PortcullisError {
  const detail = logPath ? logTail(logPath) : undefined;
  const extra = detail ? { detail } : {};
  if (code === PKEXEC_DISMISSED)
    return new PortcullisError('cancelled', 'authentication was cancelled; the firewall helper was not started', extra);
  if (code === PKEXEC_NOT_AUTHORISED) {
    return new PortcullisError(
      'unauthorized',
      'not authorised to start the firewall helper (polkit action org.portcullis.helper)',
      extra,
    );
  }
  const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
  return new PortcullisError(
    'internal',
    `the firewall helper ${how} before it answered${detail ? ': ' + lastLine(detail) : ''}`,
    extra,
  );
}

/** The HelperState the app shows for a failed launch. */
export function launchFailureState(error: PortcullisError): HelperState {
  if (error.kind === 'cancelled') return { state: 'cancelled', message: error.message };
  if (error.kind === 'unauthorized') return { state: 'refused', message: error.message };
  if (error.kind === 'unavailable') return { state: 'not-running', message: error.message };
  return { state: 'failed', message: error.message };
}

function missingPiece(pkexec: string, launcher: string): PortcullisError | null {
  try {
    accessSync(pkexec, constants.X_OK);
  } catch {
    return new PortcullisError(
      'unavailable',
      `${pkexec} is missing: install polkit's pkexec (Debian/Ubuntu: apt install pkexec)`,
    );
  }
  try {
    if (!statSync(launcher).isFile()) throw new Error('not a file');
  } catch {
    return new PortcullisError(
      'unavailable',
      `the helper is not installed (${launcher} is missing): run \`sudo portcullis install\``,
    );
  }
  return null;
}

function logTail(path: string, maxBytes = 4096): string | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    return text.slice(-maxBytes).trim() || undefined;
  } catch {
    return undefined;
  }
}

function lastLine(text: string): string {
  return text.split('\n').filter(Boolean).at(-1) ?? text;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
