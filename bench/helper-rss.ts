// The real helper's memory with 100k live flows, and its CPU idle and at 1k new connections/s.
//
//   node --import tsx bench/helper-rss.ts [--smoke] [--cpu-only] [--from-source] [--json bench/results/helper-rss.json]
//
// The helper runs as production runs it: the compiled JavaScript (npm run build:ts, the tree the
// helper bundle ships) on plain node. --from-source runs it through tsx instead, as the tests do
// (the loader's compiler adds tens of MiB).
//
// A holder process in the helper's cgroup opens N UDP sockets, each connected to its own
// (address, port) on loopback and sending one datagram: N connect decisions, N flows with an open
// socket in the helper's tracker. RSS is read from /proc/PID/status before and with the flows (the
// median of samples a second apart, with their range); CPU
// from /proc/PID/stat over a quiet window and over a window of 1k TCP connect+close per second
// from the C load generator (the connections also go through the whole pipeline and history).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { killAndWait, Sandbox } from '../test/support/sandbox.js';
import { CLI_ARGV, HelperProcess } from '../test/support/helper-process.js';
import { buildLoadgen, lineOf, startLoopbackConnects } from './lib/loadgen.js';
import { compiledCli } from './lib/compiled-cli.js';
import { summarize } from './lib/stats.js';

const smoke = process.argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
const jsonAt = process.argv.indexOf('--json');
const output = jsonAt !== -1 ? process.argv[jsonAt + 1]! : join(__dirname, 'results', 'helper-rss.json');
const FLOWS = smoke ? 2000 : 100_000;
const TARGET_MIB = 150;
const CLOCK_TICKS = 100; // USER_HZ on Linux
const fromSource = process.argv.includes('--from-source');
/** Only the CPU figures (idle, at 1k connections/s), not the memory with 100k flows. */
const cpuOnly = process.argv.includes('--cpu-only');
const secondsAt = process.argv.indexOf('--load-seconds');
/** How long the 1k connections/s load runs: CPU over its first third, and over the rest but its last half second. */
const LOAD_SECONDS = secondsAt !== -1 ? Number(process.argv[secondsAt + 1]) : 30;

/** The CLI to run the helper with: compiled now from the current sources, or tsx. */
function helperCli(): { cli: readonly string[]; runs: string } {
  if (fromSource) return { cli: CLI_ARGV, runs: 'from source through tsx (as the tests run it)' };
  return {
    cli: compiledCli(),
    runs: 'compiled (npm run build:ts output, as the helper bundle ships it) on plain node',
  };
}

/** Holds COUNT sockets numbered from START (a process may hold only ~20k descriptors here, so several run). */
const HOLDER = `
import resource, socket, sys, time
start, count = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for i in range(start, start + count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Each local address has ~28k ephemeral ports: spread the sockets over several.
    s.bind(('127.0.%d.1' % (1 + i // 20000), 0))
    s.connect(('127.0.0.%d' % (1 + i // 50000), 1024 + i % 50000))
    try:
        s.send(b'x')
    except OSError:
        pass
    held.append(s)
print('ready', flush=True)
time.sleep(float(sys.argv[3]))
`;
const PER_HOLDER = 18_000;

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime + stime
}

async function cpuPercentOver(pid: number, ms: number): Promise<number> {
  const before = cpuSeconds(pid);
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  return ((cpuSeconds(pid) - before) / wall) * 100;
}

/**
 * The helper's CPU while a load generator in its cgroup makes `rate` TCP connect+close per second to
 * a loopback sink for `seconds` (every connection goes through the whole pipeline and history).
 */
async function cpuAtConnectionRate(
  sandbox: Sandbox,
  cgroup: string,
  pid: number,
  seconds: number,
  rate = 1000,
): Promise<{ connectionsPerSecond: number; cpuAt1kFirstPercent: number; cpuAt1kConnectionsPercent: number }> {
  const loadgen = buildLoadgen(sandbox.makeTempDir('bench-rss-loadgen'));
  const durationMs = seconds * 1000;
  const { finished } = await startLoopbackConnects(sandbox, loadgen, cgroup, {
    durationMs,
    maxConnections: durationMs + 100,
    perSecond: rate,
  });
  // The first third runs on a fresh helper (V8 still compiling the hot paths on its worker threads);
  // the rest is the sustained figure.
  const firstMs = Math.round(durationMs / 3);
  const cpu = cpuPercentOver(pid, firstMs).then(async (first) => ({
    first,
    sustained: await cpuPercentOver(pid, durationMs - firstMs - 500),
  }));
  const result = await finished;
  const { first, sustained } = await cpu;
  return {
    connectionsPerSecond: result.ok / (result.elapsedNs / 1e9),
    cpuAt1kFirstPercent: first,
    cpuAt1kConnectionsPercent: sustained,
  };
}

function report(result: Record<string, unknown>): void {
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, `${JSON.stringify(result, null, 2)}\n`);
}

async function main(): Promise<void> {
  const sandbox = new Sandbox();
  try {
    const { cli, runs } = helperCli();
    const helper = await HelperProcess.start(sandbox, {}, cli);
    const pid = helper.pid!;
    const client = await helper.client('bench');
    await new Promise((resolve) => setTimeout(resolve, 3000)); // start-up work settles
    const rssIdle = rssMiB(pid);
    const cpuIdle = await cpuPercentOver(pid, smoke ? 2000 : 10_000);

    // 1k new connections per second on the fresh helper (a workstation's steady state), before the
    // burst of 100k flows: measured after it, the helper's CPU also held the burst's teardown.
    const at1k = await cpuAtConnectionRate(sandbox, helper.paths.cgroup, pid, smoke ? 2 : LOAD_SECONDS);
    const cpuIdleAfterLoad = await cpuPercentOver(pid, smoke ? 2000 : 5000);
    if (cpuOnly) {
      // Not a helper-rss result (no memory figures): printed, and written only where --json says.
      const cpu = {
        kind: 'helper-cpu',
        smoke,
        measuredAt: new Date().toISOString(),
        cpuIdlePercent: cpuIdle,
        ...at1k,
        cpuIdleAfterLoadPercent: cpuIdleAfterLoad,
        helperRuns: runs,
      };
      if (jsonAt !== -1) report(cpu);
      console.error(`helper-cpu bench: ${JSON.stringify(cpu)}`);
      await helper.stop(); // a clean stop, so a CPU profile (BENCH_HELPER_CPU_PROF) is written
      return;
    }
    const before = (await client.call('status')).eventsSeen;
    const holders = [];
    for (let start = 0; start < FLOWS; start += PER_HOLDER) {
      const holder = sandbox.spawnInCgroup(helper.paths.cgroup, [
        'python3',
        '-c',
        HOLDER,
        String(start),
        String(Math.min(PER_HOLDER, FLOWS - start)),
        smoke ? '30' : '300',
      ]);
      await lineOf(holder, (l) => l === 'ready', 120_000);
      holders.push(holder);
    }
    // Wait until the helper has taken every connect decision (bounded).
    let seen = 0;
    for (let i = 0; i < 600 && seen < FLOWS; i++) {
      seen = (await client.call('status')).eventsSeen - before;
      if (seen < FLOWS) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 3000)); // writes settle
    const rssAfterBurst = rssMiB(pid);
    // V8 gives back heap it grew for the burst of 100k decisions only after a while of lower allocation.
    await new Promise((resolve) => setTimeout(resolve, smoke ? 2000 : 20_000));
    // RSS saw-tooths while flows are held (each live-totals read leaves a buffer until the next GC): sample it.
    const rssSamples: number[] = [];
    for (let i = 0; i < (smoke ? 3 : 10); i++) {
      rssSamples.push(rssMiB(pid));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const rssSummary = summarize(rssSamples);
    const rssWithFlows = rssSummary.median;
    const cpuHoldingFlows = await cpuPercentOver(pid, smoke ? 2000 : 5000);
    const flowsStored = (await client.call('connections.list', { limit: 200_000 })).length;
    for (const holder of holders) await killAndWait(holder);

    const result = {
      kind: 'helper-rss',
      smoke,
      measuredAt: new Date().toISOString(),
      flows: FLOWS,
      connectDecisionsSeen: seen,
      flowsStored,
      rssIdleMiB: rssIdle,
      rssAfterBurstMiB: rssAfterBurst,
      rssWithFlowsMiB: rssWithFlows,
      rssWithFlowsMinMiB: rssSummary.min,
      rssWithFlowsMaxMiB: rssSummary.max,
      rssWithFlowsSamples: rssSummary.n,
      bytesPerFlow: ((rssWithFlows - rssIdle) * 1024 * 1024) / FLOWS,
      targetMiB: TARGET_MIB,
      withinTarget: rssWithFlows <= TARGET_MIB,
      withinTargetAtPeak: rssSummary.max <= TARGET_MIB,
      cpuIdlePercent: cpuIdle,
      cpuHoldingFlowsPercent: cpuHoldingFlows,
      ...at1k,
      cpuIdleAfterLoadPercent: cpuIdleAfterLoad,
      helperRuns: runs,
      note: 'CPU percent of one core; the machine is shared',
    };
    report(result);
    console.error(
      `helper-rss bench: idle ${rssIdle.toFixed(0)} MiB, with ${FLOWS} flows ${rssWithFlows.toFixed(0)} MiB (${result.bytesPerFlow.toFixed(0)} B/flow); CPU idle ${cpuIdle.toFixed(1)}%, at ${result.connectionsPerSecond.toFixed(0)} conn/s ${result.cpuAt1kFirstPercent.toFixed(1)}% on the fresh helper, ${result.cpuAt1kConnectionsPercent.toFixed(1)}% sustained; wrote ${output}`,
    );
  } finally {
    await sandbox.dispose();
  }
}

main().catch((error: Error) => {
  console.error(`helper-rss bench failed: ${error.stack ?? error.message}`);
  process.exit(1);
});
