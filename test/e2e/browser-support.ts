// Shared e2e plumbing: a fresh renderer build, the browser shell on a backend pointed at a test
// helper, and Debian's Chromium driven by playwright-core (headless, offline, throwaway profile).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../support/helper-process.js';
import type { Sandbox } from '../support/sandbox.js';
import { createSystemBackend } from '../../main/app/system-backend.js';
import { startShellServer, type ShellServer } from '../../main/shell/shell-server.js';
import type { IpcBackend } from '../../main/app/ipc-backend.js';
import { codeOf, signInLinkOf } from '../support/shell-probes.js';

export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'e2e');
export const CHROMIUM = '/usr/bin/chromium';

let built = false;
/** Builds the renderer once per test process, so the e2e runs the code as it is now. */
export function buildRenderer(): string {
  if (!built) {
    execFileSync(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'),
        'build',
        '--config',
        'renderer/vite.config.ts',
        '--logLevel',
        'warn',
      ],
      { cwd: REPO_ROOT, stdio: 'inherit' },
    );
    built = true;
  }
  return join(REPO_ROOT, 'build', 'renderer');
}

/**
 * Opens the launch page as `portcullis-shell --open` has the browser do: it signs in and lands on
 * the app. Returns the one-time code the page held (spent now).
 */
export async function signInFromLaunchPage(page: Page, shell: ShellServer): Promise<string> {
  const code = codeOf(signInLinkOf(shell.launchUrl));
  await page.goto(shell.launchUrl);
  await page.waitForURL(`${shell.origin}/`);
  return code;
}

export interface ShellSession {
  backend: IpcBackend;
  shell: ShellServer;
  context: BrowserContext;
  page: Page;
  /** The one-time code the browser signed in with. */
  signInCode: string;
  /** What the shell logged. */
  shellLog: string[];
  screenshot(name: string): Promise<void>;
}

/** The shell against the helper at `socket`, with its own config dir, and a Chromium page on it. */
export async function openShell(sandbox: Sandbox, socket: string): Promise<ShellSession> {
  const rendererDir = buildRenderer();
  const backend = createSystemBackend({
    clientName: 'e2e',
    socketPath: socket,
    configDir: sandbox.makeTempDir('config'),
  });
  sandbox.defer(() => backend.dispose());
  const shellLog: string[] = [];
  const shell = await startShellServer({ backend, rendererDir, log: (line) => shellLog.push(line) });
  sandbox.defer(() => shell.close());
  // A persistent context on a fresh directory: playwright's way of passing --user-data-dir.
  const context = await chromium.launchPersistentContext(sandbox.makeTempDir('chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  sandbox.defer(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  sandbox.defer(() => {
    // CSP violations and uncaught errors show up here; they fail the run loudly in the log.
    if (problems.length > 0) console.error(`browser reported:\n${problems.join('\n')}`);
  });
  const signInCode = await signInFromLaunchPage(page, shell);
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    backend,
    shell,
    context,
    page,
    signInCode,
    shellLog,
    screenshot: async (name) => void (await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) })),
  };
}
