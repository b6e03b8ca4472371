// `npm run bench` (through bench/run.sh): every benchmark in one run, then one JSON file and one
// report. BENCH_SMOKE=1 runs tiny sizes without OpenSnitch and writes into test-artifacts/ instead,
// so the test suite can prove the whole pipeline works without touching the committed results.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Sandbox } from '../test/support/sandbox.js';
import { buildContenders } from './contenders/index.js';
import { foldPeerResults } from './lib/fold.js';
import { makeLab } from './lib/lab.js';
import { buildLoadgen, Loadgen } from './lib/loadgen.js';
import { describeMachine } from './lib/machine.js';
import { writeReport } from './lib/report.js';
import { runTraffic, type TrafficPlan } from './traffic.js';
import { runControlPlane, type ControlPlanePlan } from './control-plane.js';
import { openSnitch } from './contenders/opensnitch.js';
import { hasCommand } from './lib/process.js';
import { keptApart, type BenchResults } from './lib/results.js';

const ROOT = resolve(__dirname, '..');

function log(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** `--report RESULTS.json`: writes the report of an earlier run again (after the report code changed). */
function reportOnly(jsonPath: string): number {
  const results = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchResults;
  const reportPath = keptApart(results)
    ? join(dirname(resolve(jsonPath)), 'REPORT.md')
    : join(ROOT, 'bench', 'REPORT.md');
  writeReport(results, reportPath, resolve(jsonPath));
  log(`report: ${reportPath}`);
  return 0;
}

async function main(): Promise<number> {
  const { values: args } = parseArgs({ options: { report: { type: 'string' } } });
  if (args.report) return reportOnly(args.report);
  const smoke = process.env.BENCH_SMOKE === '1';
  // BENCH_ONLY=none,portcullis: a partial run for investigating (traffic only, those contenders),
  // kept out of bench/results like the smoke run.
  const only = process.env.BENCH_ONLY?.split(',').filter(Boolean) ?? null;
  const outDir = smoke
    ? join(ROOT, 'test-artifacts', 'bench-smoke')
    : only
      ? join(ROOT, 'test-artifacts', 'bench-partial')
      : join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const startedAt = new Date();
  const machine = describeMachine();
  log(`${smoke ? 'smoke run' : 'full run'} on ${machine.cpuModel}, ${machine.cores} cores, kernel ${machine.kernel}`);

  const sandbox = new Sandbox();
  let aborted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    aborted = true;
    log(`${signal}: cleaning up, writing no results`);
    void sandbox.dispose().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let results: BenchResults;
  try {
    const work = sandbox.makeTempDir('bench');
    const lab = makeLab(sandbox);
    const loadgen = new Loadgen(sandbox, lab, buildLoadgen(work));
    const contenders = buildContenders(sandbox, lab, { smoke, workDir: work, log }).filter(
      (c) => !only || only.includes(c.id),
    );
    log(`contenders: ${contenders.map((c) => c.id).join(', ')}`);
    const plan: TrafficPlan = {
      // BENCH_REPETITIONS: more pairs where a shared machine is noisy.
      repetitions: smoke ? 1 : Number(process.env.BENCH_REPETITIONS ?? 3),
      slices: smoke ? 1 : 4,
      bounds: smoke ? { durationMs: 150, maxCount: 100_000 } : { durationMs: 500, maxCount: 2_000_000 },
      paths: ['loopback', 'veth'],
      kinds: ['tcp-connect', 'udp-64'],
    };
    const traffic = await runTraffic(sandbox, loadgen, lab, contenders, plan, log);
    const controlPlan: ControlPlanePlan = smoke
      ? {
          loadedRules: 1000,
          changeIterations: 3,
          importEntries: 5000,
          subscriptionEntries: 2000,
          importCapMs: 60_000,
          usageWindowMs: 500,
          connectsPerSecond: 200,
          withOpenSnitch: false,
        }
      : {
          loadedRules: 10_000,
          changeIterations: 100,
          importEntries: 1_000_000,
          subscriptionEntries: 100_000,
          importCapMs: 180_000,
          usageWindowMs: 5000,
          connectsPerSecond: 1000,
          withOpenSnitch: hasCommand('opensnitchd'),
        };
    const controlPlane = !only
      ? await runControlPlane(
          sandbox,
          loadgen,
          lab,
          controlPlan,
          work,
          controlPlan.withOpenSnitch ? () => openSnitch(sandbox, lab.firewall, work) : null,
          log,
        )
      : null;
    results = {
      schema: 1,
      smoke,
      ...(only !== null && !smoke ? { partial: only } : {}),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      traffic,
      controlPlane,
      folded: smoke
        ? foldPeerResults(outDir, 'test-artifacts/bench-smoke')
        : foldPeerResults(join(ROOT, 'bench', 'results')),
    };
  } finally {
    if (!aborted) await sandbox.dispose();
  }
  if (aborted) return new Promise<number>(() => {}); // the signal handler exits once cleanup is done

  const stamp = startedAt
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');
  const jsonPath = join(outDir, `${stamp}.json`);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  const reportPath = keptApart(results) ? join(outDir, 'REPORT.md') : join(ROOT, 'bench', 'REPORT.md');
  writeReport(results, reportPath, jsonPath);
  log(`results: ${jsonPath}`);
  log(`report: ${reportPath}`);

  const failures = results.traffic.series.flatMap((s) =>
    s.errors.map((e) => `${s.contender} ${s.path} ${s.kind}: ${e}`),
  );
  const unmeasured = results.traffic.series.filter((s) => s.ratio === null);
  for (const s of unmeasured) failures.push(`${s.contender} ${s.path} ${s.kind}: no figure`);
  for (const figure of results.controlPlane?.ruleChange ?? []) {
    if (figure.errors.length > 0 || !figure.enforcedMs)
      failures.push(`rule change ${figure.firewall}: ${figure.errors.join('; ') || 'no figure'}`);
  }
  for (const figure of results.controlPlane?.import ?? [])
    if (figure.error) failures.push(`import ${figure.firewall}: ${figure.error}`);
  const subscription = results.controlPlane?.subscriptionUpdate;
  if (subscription?.error) failures.push(`subscription update: ${subscription.error}`);
  for (const figure of results.controlPlane?.usage ?? [])
    if (figure.error) failures.push(`usage ${figure.firewall}: ${figure.error}`);
  for (const failure of failures) log(`FAILED ${failure}`);
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
