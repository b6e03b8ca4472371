// `npm run test:kernels [-- <series or package>... ] [--timeout-min N] [--command '<shell>']`
// Boots Debian's own kernel packages (default: the newest 6.1 and 6.12 in apt) one at a time under
// qemu and runs the kernel tests and the helper's end-to-end check inside each. Exits 0 only when
// every kernel passed; its last line counts the tests of all kernels ("kernel matrix: N passed, M
// failed, K skipped", a kernel whose run broke off without a failing test counting as one failure),
// which test/run-all.sh adds to the suite's total. Console logs go to test-artifacts/kernels/. The
// guest sees this tree as it is on disk while it runs: leave it alone meanwhile.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bootVm, type BootResult } from './boot-vm.js';
import { SERIES, packageFor, unpackKernel } from './kernel-packages.js';

const REPO = resolve(__dirname, '..', '..');
const CACHE = process.env.PORTCULLIS_KERNEL_CACHE ?? join(REPO, 'build', 'kernels');
const ARTIFACTS = join(REPO, 'test-artifacts', 'kernels');

/**
 * What runs inside each kernel: the kernel tests and the helper's end-to-end check, compiled (tsx
 * would cost ten seconds and more per process under emulation; see test/support/node-entry.ts).
 */
function defaultCommand(): string {
  const kernelTests = readdirSync(join(REPO, 'test', 'kernel'))
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => `test/kernel/${f}`);
  const files = [...kernelTests, 'test/integration/helper-enforces.test.ts'].map((f) =>
    join('build', f.replace(/\.ts$/, '.js')),
  );
  return `exec node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec ${files.join(' ')}`;
}

/** The guest runs the tree as built here: the addon must exist, and the TypeScript is compiled now. */
function prepareBuild(): void {
  if (!existsSync(join(REPO, 'native', 'build', 'Release', 'portcullis.node'))) {
    throw new Error('the native addon is not built: run npm run build');
  }
  execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: REPO, stdio: 'inherit' });
}

interface Args {
  kernels: string[];
  timeoutMs: number;
  command: string;
}

function parseArgs(argv: string[]): Args {
  // One kernel's run takes about 11 minutes here under TCG; a hung guest is cut off well within
  // CI's budget (see README, "Kernel matrix").
  const args: Args = { kernels: [], timeoutMs: 20 * 60_000, command: '' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--timeout-min') {
      const minutes = Number(argv[++i]);
      if (!(minutes > 0)) throw new Error('--timeout-min needs a positive number of minutes');
      args.timeoutMs = minutes * 60_000;
    } else if (arg === '--command') {
      args.command = argv[++i] ?? '';
      if (!args.command) throw new Error('--command needs a shell command');
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      args.kernels.push(arg);
    }
  }
  if (args.kernels.length === 0) args.kernels = SERIES.map((s) => s.name);
  if (!args.command) args.command = defaultCommand();
  return args;
}

interface KernelOutcome {
  name: string;
  packageName: string;
  result: BootResult | null;
  passed: number;
  failed: number;
  skipped: number;
  error?: string;
}

const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

async function runKernel(name: string, args: Args): Promise<KernelOutcome> {
  const packageName = packageFor(name);
  const outcome: KernelOutcome = { name, packageName, result: null, passed: 0, failed: 0, skipped: 0 };
  try {
    const kernel = unpackKernel(packageName, CACHE);
    console.log(`\n== ${name}: ${packageName} (${kernel.release})`);
    outcome.result = await bootVm(kernel, {
      repo: REPO,
      command: args.command,
      timeoutMs: args.timeoutMs,
      memoryMiB: 3072,
      cpus: 2,
      consoleLog: join(ARTIFACTS, `${kernel.release}.log`),
      onLine: (line) => {
        console.log(`[${name}] ${line}`);
        const count = /^ℹ (pass|fail|skipped) (\d+)$/.exec(line);
        if (count)
          outcome[count[1] === 'pass' ? 'passed' : count[1] === 'fail' ? 'failed' : 'skipped'] += Number(count[2]);
      },
    });
  } catch (error) {
    outcome.error = error instanceof Error ? error.message : String(error);
    console.log(`[${name}] ${outcome.error}`);
  }
  return outcome;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  prepareBuild();
  mkdirSync(ARTIFACTS, { recursive: true });
  const outcomes: KernelOutcome[] = [];
  for (const name of args.kernels) {
    const outcome = await runKernel(name, args); // one VM at a time: TCG takes every core
    outcomes.push(outcome);
    if (outcome.result?.interrupted) break;
  }
  console.log('\nkernel matrix (boot = qemu start to init, ready = to the tests starting, wall = whole VM run):');
  let good = 0;
  for (const o of outcomes) {
    const r = o.result;
    const ok = r !== null && r.exitCode === 0;
    if (ok) good++;
    const verdict = ok ? 'PASS' : r?.timedOut ? 'TIMEOUT' : r?.interrupted ? 'STOPPED' : 'FAIL';
    const detail =
      o.error ?? `${o.passed} tests passed, ${o.failed} failed, ${o.skipped} skipped, exit ${r?.exitCode ?? 'none'}`;
    console.log(
      `  ${o.name.padEnd(6)} ${verdict.padEnd(7)} ${o.packageName}: ${detail}; boot ${seconds(r?.bootMs ?? null)}, ready ${seconds(r?.readyMs ?? null)}, wall ${seconds(r?.wallMs ?? null)}`,
    );
  }
  const total = (key: 'passed' | 'failed' | 'skipped') => outcomes.reduce((sum, o) => sum + o[key], 0);
  const brokenOff = outcomes.filter((o) => o.failed === 0 && o.result?.exitCode !== 0).length;
  console.log(`kernel matrix: ${good} of ${outcomes.length} kernels passed`);
  console.log(
    `kernel matrix: ${total('passed')} passed, ${total('failed') + brokenOff} failed, ${total('skipped')} skipped`,
  );
  return good === outcomes.length ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`kernel matrix: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  },
);
