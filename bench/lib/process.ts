// Running the benchmark's child processes: commands that must succeed, and long-lived ones whose
// one JSON result line (and an optional "ready" line) the harness waits for, each with a deadline.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

/** Runs a command to completion; throws with its stderr when it fails. */
export function run(command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 << 20,
    });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim();
    throw new Error(`${command} ${args.slice(0, 6).join(' ')} failed: ${stderr || (error as Error).message}`);
  }
}

/**
 * Runs a command without blocking this process (others keep measuring meanwhile); resolves with its
 * exit, output and wall time from spawn to exit. Killed after timeoutMs.
 */
export function runTimed(
  command: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<{ code: number | null; stdout: string; stderr: string; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, elapsedMs: performance.now() - began });
    });
  });
}

/** True when a command exists on PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v "$0"`, command], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A child whose stdout is read as lines: "ready" and one JSON result. */
export class LineProcess {
  private readonly lines: string[] = [];
  private readonly waiters: Array<() => void> = [];
  private stderr = '';
  readonly exited: Promise<number | null>;

  constructor(
    readonly label: string,
    readonly child: ChildProcess,
  ) {
    let partial = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.lines.push(line.trim());
      this.wake();
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-4000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  private get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Waits for a line that passes the test; fails on exit or after timeoutMs. */
  async waitForLine(test: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      if (this.done)
        throw new Error(
          `${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before answering: ${this.stderr.trim()}`,
        );
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label} gave no answer within ${timeoutMs} ms: ${this.stderr.trim()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitReady(timeoutMs = 5000): Promise<string> {
    return this.waitForLine((line) => line === 'ready', timeoutMs);
  }

  /** The JSON object the process prints when it finishes. */
  async result<T>(timeoutMs: number): Promise<T> {
    const line = await this.waitForLine((candidate) => candidate.startsWith('{'), timeoutMs);
    return JSON.parse(line) as T;
  }
}
