// `portcullis-shell`: the browser shell. Serves the UI on 127.0.0.1 and prints the launch page to
// open (a file only this user can read, which signs the browser in once); with --open it starts
// Chromium in an app window on it. The browser's command line names the file, never a secret.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createSystemBackend } from '../app/system-backend.js';
import { startShellServer } from './shell-server.js';

/** How long the shell waits for its browser to end before it kills it. */
const BROWSER_EXIT_WAIT_MS = 5000;

/** Whether a process of the group is left (signal 0 checks without sending). */
function groupAlive(group: number): boolean {
  try {
    process.kill(-group, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to `ms` for every process of the group to be gone; answers whether they are. */
async function groupGone(group: number, ms: number): Promise<boolean> {
  for (let waited = 0; groupAlive(group); waited += 50) {
    if (waited >= ms) return false;
    await sleep(50);
  }
  return true;
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // the group is gone already
  }
}

const USAGE =
  'usage: portcullis-shell [--socket PATH] [--renderer DIR] [--config-dir DIR] [--port N] [--open [--browser PATH]]';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        renderer: { type: 'string' },
        'config-dir': { type: 'string' },
        port: { type: 'string' },
        open: { type: 'boolean', default: false },
        browser: { type: 'string', default: '/usr/bin/chromium' },
      },
    }).values;
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  const port = args.port === undefined ? 0 : Number(args.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: "${args.port}" is not a port number (0-65535)\n${USAGE}`);
    process.exit(2);
  }
  const backend = createSystemBackend({ clientName: 'shell', socketPath: args.socket, configDir: args['config-dir'] });
  await backend.connection.connect();
  const shell = await startShellServer({ backend, rendererDir: resolve(args.renderer ?? 'build/renderer'), port });
  console.log(`Portcullis browser shell on ${shell.origin} (open ${shell.launchUrl})`);

  let browser: ReturnType<typeof spawn> | null = null;
  let profile: string | null = null;
  let browserGroup: number | null = null;
  let stopping = false;
  if (args.open) {
    profile = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'));
    const flags = [
      `--app=${shell.launchUrl}`,
      `--user-data-dir=${profile}`,
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--window-size=1280,820',
    ];
    // Chromium refuses to run as root with its sandbox on; the page itself stays sandboxed by CSP and has no node.
    if (process.getuid?.() === 0) flags.push('--no-sandbox');
    // In a process group of its own: Chromium's helper processes outlive its main one, and all of
    // them are waited for before its profile goes.
    browser = spawn(args.browser, flags, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    browserGroup = browser.pid ?? null;
    let errors = '';
    browser.stderr!.on('data', (chunk: Buffer) => {
      errors = (errors + chunk.toString()).slice(-2000);
    });
    browser.on('error', (error) =>
      console.error(`could not start ${args.browser}: ${error.message}; open ${shell.launchUrl} in a browser instead`),
    );
    browser.on('exit', (code) => {
      browser = null;
      if (stopping) return; // ended by stop()
      // The person closed the window: we are done. A failed start: say so and keep serving.
      if (code === 0) return void stop();
      console.error(
        `${args.browser} exited with status ${code}${errors ? `:\n${errors.trim().split('\n').slice(-3).join('\n')}` : ''}\nThe shell keeps running; open ${shell.launchUrl} in a browser, Ctrl-C to stop.`,
      );
    });
  }

  async function stop(): Promise<void> {
    stopping = true;
    await closeBrowser();
    await shell.close();
    backend.dispose();
    if (profile) rmSync(profile, { recursive: true, force: true });
    process.exit(0);
  }
  /**
   * Ends the browser and waits (bounded) until none of its processes is left: Chromium writes its
   * profile while it shuts down, so a profile removed before that is made again, left in /tmp.
   */
  async function closeBrowser(): Promise<void> {
    if (browserGroup === null) return;
    const group = browserGroup;
    signalGroup(group, 'SIGTERM');
    if (!(await groupGone(group, BROWSER_EXIT_WAIT_MS))) {
      signalGroup(group, 'SIGKILL');
      await groupGone(group, 1000);
    }
  }
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}
