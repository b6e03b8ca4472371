// Debian's promtool (package "prometheus") judges an exposition the way Prometheus will read it:
// the text format's syntax and the naming conventions (counters in _total, units in base units).
import { spawn } from 'node:child_process';

export interface PromtoolVerdict {
  ok: boolean;
  /** What promtool said (its complaints, one a line). */
  output: string;
}

export function promtoolCheckMetrics(exposition: string): Promise<PromtoolVerdict> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new Error(
              'promtool is not installed (Debian package "prometheus"): run scripts/setup-tests.sh, which installs what only the tests use',
            )
          : error,
      ),
    );
    child.once('close', (code) => resolve({ ok: code === 0, output: output.trim() }));
    child.stdin.end(exposition);
  });
}
