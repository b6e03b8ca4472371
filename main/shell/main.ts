// `portcullis-shell`: the browser shell. Serves the UI on 127.0.0.1 and prints the address to open
// (token included); with --open it starts Chromium in an app window on it.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createSystemBackend } from '../app/system-backend.js';
import { startShellServer } from './shell-server.js';

const USAGE = 'usage: portcullis-shell [--socket PATH] [--renderer DIR] [--config-dir DIR] [--port N] [--open [--browser PATH]]';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' }, renderer: { type: 'string' }, 'config-dir': { type: 'string' }, port: { type: 'string' },
        open: { type: 'boolean', default: false }, browser: { type: 'string', default: '/usr/bin/chromium' },
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
  console.log(`Portcullis browser shell on ${shell.origin} (open ${shell.url})`);

  let browser: ReturnType<typeof spawn> | null = null;
  if (args.open) {
    const profile = mkdtempSync(join(tmpdir(), 'portcullis-chromium-'));
    browser = spawn(args.browser, [`--app=${shell.url}`, `--user-data-dir=${profile}`, '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--window-size=1280,800', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])], { stdio: 'ignore' });
    browser.on('exit', () => void stop());
  }

  async function stop(): Promise<void> {
    browser?.kill();
    await shell.close();
    backend.dispose();
    process.exit(0);
  }
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

