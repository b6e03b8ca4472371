// A real helper process for a test: the CLI's `helper` command as root on the sandbox's cgroup,
// a private bpffs, a temp state dir and socket. Stopped (and its pins detached) on sandbox cleanup.
// Reused by the connections, desktop and polkit tests.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Firewall } from '../../native/index.js';
import { HelperClient } from '../../main/client/helper-client.js';
import { killAndWait, type Sandbox } from './sandbox.js';
import { nodeArgv, REPO_ROOT } from './node-entry.js';

export { REPO_ROOT };
/** The CLI as a command line (from source through tsx, so tests need no build; see node-entry.ts). */
export const CLI_ARGV = nodeArgv('main/cli/entry.ts');

export interface HelperPaths {
  cgroup: string;
  /** The pin directory (inside a private bpffs mount). */
  bpffs: string;
  stateDir: string;
  socket: string;
  /**
   * Policy files (root-owned, 0755): a test's own, never the system's /etc/portcullis/policy.d.
   * null: no --policy-dir flag at all, only for a helper built before policy files (which refuses
   * the flag; the benchmark's baseline). A current helper given null would read the system's.
   */
  policyDir: string | null;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export class HelperProcess {
  private child: ChildProcess | null = null;
  private output = '';
  private exited: Promise<number | null> = Promise.resolve(null);
  /** More `helper` flags for the next launches (e.g. --metrics). */
  args: string[] = [];

  private constructor(
    private readonly sandbox: Sandbox,
    readonly paths: HelperPaths,
    private readonly cliCommand: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * Makes the paths the helper needs in the sandbox (any given are used as they are) and starts
   * it. The socket's parent directories are world-traversable so non-root test users reach it.
   * `cliCommand` runs the CLI: through tsx from source unless told (benchmarks run the compiled one).
   * `given.env` adds to the helper's environment at every launch, `given.args` to its flags.
   */
  static async start(
    sandbox: Sandbox,
    given: Partial<HelperPaths> & { env?: NodeJS.ProcessEnv; args?: string[] } = {},
    cliCommand: readonly string[] = CLI_ARGV,
  ): Promise<HelperProcess> {
    const { env = {}, args = [], ...givenPaths } = given;
    let paths: HelperPaths;
    if (
      givenPaths.cgroup &&
      givenPaths.bpffs &&
      givenPaths.stateDir &&
      givenPaths.socket &&
      givenPaths.policyDir !== undefined
    ) {
      paths = givenPaths as HelperPaths;
    } else {
      const base = sandbox.makeTempDir('helper');
      chmodSync(base, 0o755);
      paths = {
        cgroup: givenPaths.cgroup ?? sandbox.makeCgroup('helper'),
        bpffs: givenPaths.bpffs ?? join(sandbox.makeBpffs(), 'portcullis'),
        stateDir: givenPaths.stateDir ?? join(base, 'state'),
        socket: givenPaths.socket ?? join(base, 'run', 'helper.sock'),
        policyDir: givenPaths.policyDir === undefined ? join(base, 'policy.d') : givenPaths.policyDir,
      };
    }
    const helper = new HelperProcess(sandbox, paths, cliCommand, env);
    helper.args = args;
    // Registered first, so it runs after the helper is stopped (cleanups run in reverse).
    sandbox.defer(() =>
      Firewall.detach(paths.bpffs).catch(() => {
        /* never attached */
      }),
    );
    sandbox.defer(async () => {
      await helper.stop('SIGKILL');
    });
    await helper.launch();
    return helper;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Everything the helper printed (stderr + stdout) since it was first started. */
  get logs(): string {
    return this.output;
  }

  /** Starts the helper (again) and waits until it serves its socket. */
  async launch(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    if (this.running) throw new Error('the helper is already running');
    const { cgroup, bpffs, stateDir, socket, policyDir } = this.paths;
    mkdirSync(stateDir, { recursive: true });
    const child = spawn(
      this.cliCommand[0]!,
      [
        ...this.cliCommand.slice(1),
        'helper',
        '--cgroup',
        cgroup,
        '--bpffs',
        bpffs,
        '--state-dir',
        stateDir,
        '--socket',
        socket,
        ...(policyDir === null ? [] : ['--policy-dir', policyDir]),
        ...this.args,
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PKEXEC_UID: '', ...this.env, ...extraEnv },
      },
    );
    this.child = child;
    this.exited = new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    this.output += `--- launch ---\n`;
    const launchedAt = this.output.length;
    const ready = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`helper did not become ready within ${START_TIMEOUT_MS} ms:\n${this.output}`)),
        START_TIMEOUT_MS,
      );
      const onData = (chunk: Buffer) => {
        this.output += chunk.toString();
        if (/ready: serving/.test(this.output.slice(launchedAt))) {
          clearTimeout(timer);
          resolveReady();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`helper exited (${code ?? signal}) before it was ready:\n${this.output}`));
      });
    });
    await ready;
  }

  /** SIGTERM (clean stop, pins stay) or SIGKILL (a crash); resolves with the exit code. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return child?.exitCode ?? null;
    child.kill(signal);
    const code = await Promise.race([
      this.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), STOP_TIMEOUT_MS)),
    ]);
    if (code === 'timeout') {
      await killAndWait(child);
      throw new Error(`helper did not stop within ${STOP_TIMEOUT_MS} ms after ${signal}`);
    }
    return code;
  }

  async restart(): Promise<void> {
    await this.stop('SIGTERM');
    await this.launch();
  }

  /** A client connected to this helper; closed on sandbox cleanup. */
  async client(name = 'test'): Promise<HelperClient> {
    const client = await HelperClient.connect({ socketPath: this.paths.socket, clientName: name });
    this.sandbox.defer(() => client.close());
    return client;
  }

  /** Runs the portcullis CLI against this helper (`input`: what it reads on stdin). */
  cli(args: string[], options: SpawnOptions & { input?: string } = {}): Promise<CliResult> {
    return runCli(['--socket', this.paths.socket, ...args], options);
  }
}

/** Runs the portcullis CLI (any arguments) and collects its output. */
export function runCli(args: string[], options: SpawnOptions & { input?: string } = {}): Promise<CliResult> {
  const { input, ...spawnOptions } = options;
  return new Promise((resolveRun, reject) => {
    const child = spawn(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), ...args], {
      cwd: REPO_ROOT,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...spawnOptions,
    });
    if (input !== undefined) child.stdin!.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}
