// The portcullis CLI as production runs it: the compiled JavaScript (npm run build:ts, the tree the
// helper bundle ships) on plain node, compiled now from the current sources under the shared build
// lock. The tests' tsx loader adds tens of MiB and its own start-up time.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/support/helper-process.js';

export function compiledCli(): readonly string[] {
  try {
    execFileSync('flock', ['/tmp/portcullis-build.lock', 'npm', 'run', '--silent', 'build:ts'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const output = `${(error as { stdout?: Buffer }).stdout ?? ''}${(error as { stderr?: Buffer }).stderr ?? ''}`;
    throw new Error(
      `compiling the CLI (npm run build:ts) failed; fix the build or pass --from-source:\n${output.slice(-2000)}`,
    );
  }
  const profile = process.env.BENCH_HELPER_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_HELPER_CPU_PROF}`]
    : [];
  return [process.execPath, ...profile, join(REPO_ROOT, 'build', 'main', 'cli', 'entry.js')];
}
