// Ask-mode tests' set-up: a real helper in ask mode on the sandbox's cgroup, a web server in a test
// netns (both families), apps run in the cgroup (curl, a small C app compiled here, python), and
// waits for the questions the helper asks.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Prompt } from '../../main/contract/index.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { HelperProcess } from '../support/helper-process.js';
import { eventually } from '../support/eventually.js';
import type { Sandbox, TestHost } from '../support/sandbox.js';

export const SYSTEM_PYTHON = '/usr/bin/python3';
const CONNECTS_SOURCE = join(__dirname, 'fixtures', 'ask-connects.c');
export const BODY = 'the body a released connection transfers\n';

export interface AskRig {
  helper: HelperProcess;
  client: HelperClient;
}

/** A helper in ask mode with this timeout (and timeout action). */
export async function startAskHelper(
  sandbox: Sandbox,
  options: { timeoutSec?: number; timeoutAction?: 'allow' | 'block' } = {},
): Promise<AskRig> {
  const helper = await HelperProcess.start(sandbox);
  const client = await helper.client('ask-test');
  await client.call('settings.update', {
    patch: {
      defaultAction: 'ask',
      askTimeoutSec: options.timeoutSec ?? 30,
      askTimeoutAction: options.timeoutAction ?? 'block',
    },
  });
  return { helper, client };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls prompts.list until `match` finds a question (bounded). On failure the error shows the last
 * questions seen and `context()` (what the apps and the helper were doing, say).
 */
export async function waitForPrompt(
  client: HelperClient,
  match: (prompt: Prompt) => boolean,
  what: string,
  timeoutMs = 10_000,
  context: () => string = () => '',
): Promise<Prompt> {
  const waiting = await eventually(
    () => client.call('prompts.list'),
    (prompts) => prompts.some(match),
    `a question ${what}`,
    { timeoutMs, describe: (prompts) => `waiting: ${JSON.stringify(prompts)}\n${context()}` },
  );
  return waiting.find(match)!;
}

export const hasHost = (address: string) => (prompt: Prompt) =>
  prompt.hosts.some((host) => host.remoteAddr === address);

/** A web server in the test host's netns on both families (python's dual-stack http.server). */
export async function startWebServer(sandbox: Sandbox, host: TestHost, port: number): Promise<void> {
  const dir = sandbox.makeTempDir('web');
  writeFileSync(join(dir, 'body.txt'), BODY);
  const server = sandbox.spawnInNetns(host.netns, [
    SYSTEM_PYTHON,
    '-m',
    'http.server',
    String(port),
    '--bind',
    '::',
    '--directory',
    dir,
  ]);
  server.stderr!.resume();
  server.stdout!.resume();
  // Ready when a connection from inside its netns succeeds.
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ip', [
        'netns',
        'exec',
        host.netns,
        'curl',
        '-sf',
        '-o',
        '/dev/null',
        `http://${host.peer4}:${port}/body.txt`,
      ]);
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error('the test web server did not start');
}

export const urlOf = (address: string, port: number) =>
  `http://${address.includes(':') ? `[${address}]` : address}:${port}/body.txt`;

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from start to exit. */
  ms: number;
}

export interface RunningApp {
  child: ChildProcess;
  done: Promise<Finished>;
  exited: () => boolean;
  output: () => string;
  /** For failure messages: running, or how it ended, with the end of what it printed on stderr. */
  state: () => string;
}

/** A command running in the cgroup; `done` resolves when it exits. */
export function startApp(sandbox: Sandbox, cgroup: string, argv: string[]): RunningApp {
  const started = Date.now();
  const child = sandbox.spawnInCgroup(cgroup, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Finished>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })),
  );
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  const state = () =>
    `${exited() ? `exited (${child.exitCode ?? child.signalCode})` : 'running'}; stderr: ${stderr.slice(-600) || '(none)'}`;
  return { child, done, exited, output: () => stdout, state };
}

/** curl (or a copy of it under another name: an app of its own) fetching `url`; -v says why a connect failed. */
export function startCurl(sandbox: Sandbox, cgroup: string, url: string, curl = '/usr/bin/curl') {
  return startApp(sandbox, cgroup, [curl, '-sSv', '--max-time', '60', url]);
}

/** curl -v's words for a refused connect (ECONNREFUSED), not a timeout. */
export const REFUSED = /connect to .* failed: Connection refused/;

/** A copy of an executable under a new name in a temp dir: a distinct app to the helper. */
export function copyApp(sandbox: Sandbox, from: string, name: string): string {
  const to = join(sandbox.makeTempDir('app'), name);
  copyFileSync(from, to);
  return to;
}

/** The small C app (fixtures/ask-connects.c), compiled into the sandbox. */
export function buildConnectsApp(sandbox: Sandbox): string {
  const out = join(sandbox.makeTempDir('connects'), 'ask-connects');
  execFileSync('cc', ['-O2', '-o', out, CONNECTS_SOURCE]);
  return out;
}

const TALKING_APP = join(__dirname, 'fixtures', 'ask-app.py');

export interface TalkingApp {
  child: ChildProcess;
  /** Sends a command (fixtures/ask-app.py); resolves with its answer line. */
  send(command: string): Promise<Record<string, unknown>>;
  exited(): boolean;
}

/** A copy of python under its own name: an app for startTalkingApp. */
export const talkingAppExe = (sandbox: Sandbox, name: string) => copyApp(sandbox, SYSTEM_PYTHON, name);

/** A long-lived python app (a copy made by talkingAppExe) driven line by line. */
export async function startTalkingApp(sandbox: Sandbox, cgroup: string, exe: string): Promise<TalkingApp> {
  const app = startApp(sandbox, cgroup, [exe, TALKING_APP]);
  const waiters = new Map<number, (line: Record<string, unknown>) => void>();
  let seen = '';
  let sent = 0;
  app.child.stdout!.on('data', (chunk: Buffer) => {
    seen += chunk.toString();
    const lines = seen.split('\n');
    seen = lines.pop()!;
    for (const line of lines) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      waiters.get(parsed.n as number)?.(parsed);
    }
  });
  const ready = new Promise<Record<string, unknown>>((resolve) => waiters.set(0, resolve));
  await ready;
  return {
    child: app.child,
    exited: app.exited,
    send(command: string) {
      const n = ++sent;
      const answer = new Promise<Record<string, unknown>>((resolve) => waiters.set(n, resolve));
      app.child.stdin!.write(`${command}\n`);
      return answer;
    },
  };
}
