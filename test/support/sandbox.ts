// Test sandboxes on the real kernel: a child cgroup, a private bpffs, network namespaces with veth
// test hosts, and processes placed in the cgroup. Everything made here is registered for cleanup,
// which runs even when the test fails. Never touches the root cgroup or the host's network.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { findCgroup2Mount } from '../../main/common/cgroup2.js';

/**
 * Spawns argv so that it is killed when the test process dies, even by SIGKILL or a crash that runs
 * no cleanup (a server in a test host would otherwise outlive its namespace's name). The death
 * signal survives exec, and setpriv execs: the child's pid is the command's.
 */
function spawnDyingWithTest(argv: string[], options: SpawnOptions): ChildProcess {
  return spawn('setpriv', ['--pdeathsig', 'KILL', ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
}

type Cleanup = () => void | Promise<void>;

export class Sandbox {
  private readonly cleanups: Cleanup[] = [];
  readonly tag = randomBytes(3).toString('hex');

  /** Registers an undo step; they run in reverse order in dispose(). */
  defer(step: Cleanup): void {
    this.cleanups.push(step);
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    while (this.cleanups.length > 0) {
      const step = this.cleanups.pop()!;
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) console.error(`sandbox ${this.tag}: ${errors.length} cleanup step(s) failed`, errors);
  }

  /** A fresh child cgroup under the cgroup2 mount, named portcullis-test-*. */
  makeCgroup(label = 'cg'): string {
    const mount = findCgroup2Mount();
    if (!mount) throw new Error('no cgroup2 mount found in /proc/self/mountinfo');
    const path = join(mount, `portcullis-test-${label}-${this.tag}`);
    mkdirSync(path);
    this.defer(() => removeCgroup(path));
    return path;
  }

  /** A private bpffs instance mounted on a temporary directory. */
  makeBpffs(): string {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-bpffs-'));
    execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
    this.defer(() => {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    });
    return dir;
  }

  /** A private temporary directory (state dirs, sockets). */
  makeTempDir(label = 'tmp'): string {
    const dir = mkdtempSync(join(tmpdir(), `portcullis-${label}-`));
    this.defer(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /**
   * A test host: a network namespace joined to the host by a veth pair, with the given addresses
   * (host side / namespace side), IPv4 /30 and IPv6 /126 style. Only the test's own addresses.
   */
  makeTestHost(index: number): TestHost {
    const name = `pcl-${this.tag}-${index}`;
    const hostIf = `pclh${this.tag.slice(0, 4)}${index}`;
    const nsIf = `pcln${this.tag.slice(0, 4)}${index}`;
    const octet = 16 + (parseInt(this.tag.slice(0, 2), 16) % 200);
    const host4 = `10.254.${octet}.${index * 4 + 1}`;
    const peer4 = `10.254.${octet}.${index * 4 + 2}`;
    // Hex, not decimal: the last group of an IPv6 address is hex, and both ends must share the /126.
    // Canonical text (no leading zeros, no zero group to fold into ::): tests compare it with the
    // addresses flows report.
    const group = (parseInt(this.tag.slice(0, 4), 16) || 1).toString(16);
    const host6 = `fd00:5043:${group}::${(index * 4 + 1).toString(16)}`;
    const peer6 = `fd00:5043:${group}::${(index * 4 + 2).toString(16)}`;
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', name);
    this.defer(() => {
      ip('netns', 'del', name);
    });
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    this.defer(() => {
      try {
        ip('link', 'del', hostIf);
      } catch {
        /* gone with the netns */
      }
    });
    ip('link', 'set', nsIf, 'netns', name);
    ip('addr', 'add', `${host4}/30`, 'dev', hostIf);
    ip('-6', 'addr', 'add', `${host6}/126`, 'dev', hostIf, 'nodad');
    ip('link', 'set', hostIf, 'up');
    const inNs = (...args: string[]) => ip('netns', 'exec', name, 'ip', ...args);
    inNs('addr', 'add', `${peer4}/30`, 'dev', nsIf);
    inNs('-6', 'addr', 'add', `${peer6}/126`, 'dev', nsIf, 'nodad');
    inNs('link', 'set', nsIf, 'up');
    inNs('link', 'set', 'lo', 'up');
    return { netns: name, hostIf, host4, peer4, host6, peer6 };
  }

  /**
   * Spawns a command inside a cgroup (it joins the cgroup before exec, so every packet it sends is
   * seen by programs attached there). Optionally inside a network namespace. Killed on cleanup.
   */
  spawnInCgroup(cgroup: string, argv: string[], options: SpawnOptions & { netns?: string } = {}): ChildProcess {
    const { netns, ...spawnOptions } = options;
    const inner = netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
    // The shell writes its own pid into cgroup.procs, then execs: no window where it runs outside.
    const child = spawnDyingWithTest(
      ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...inner],
      spawnOptions,
    );
    this.defer(() => killAndWait(child));
    return child;
  }

  /** Runs a command inside a cgroup to its end and collects what it printed. */
  async runInCgroup(cgroup: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = this.spawnInCgroup(cgroup, argv);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': a process can exit before its output has been read from the pipes.
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    return { code, stdout, stderr };
  }

  /** Spawns a command in a network namespace (a test host's server, say). Killed on cleanup. */
  spawnInNetns(netns: string, argv: string[], options: SpawnOptions = {}): ChildProcess {
    const child = spawnDyingWithTest(['ip', 'netns', 'exec', netns, ...argv], options);
    this.defer(() => killAndWait(child));
    return child;
  }
}

export interface TestHost {
  netns: string;
  hostIf: string;
  host4: string;
  peer4: string;
  host6: string;
  peer6: string;
}

/** Moves any process still in the cgroup to the parent, then removes it. */
export function removeCgroup(path: string): void {
  if (!existsSync(path)) return;
  const parentProcs = join(path, '..', 'cgroup.procs');
  for (let attempt = 0; attempt < 50; attempt++) {
    const pids = readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        writeFileSync(parentProcs, pid);
      } catch {
        /* exited meanwhile */
      }
    }
    try {
      rmdirSync(path);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
      execFileSync('sleep', ['0.02']);
    }
  }
  rmdirSync(path);
}

export async function killAndWait(child: ChildProcess, timeoutMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
}

/** Runs a function with a sandbox that is always disposed. */
export async function withSandbox<T>(body: (sandbox: Sandbox) => Promise<T>): Promise<T> {
  const sandbox = new Sandbox();
  try {
    return await body(sandbox);
  } finally {
    await sandbox.dispose();
  }
}
