// Ask mode's figures (`npm run bench:ask`, as root; not part of the tests). With the real helper on a
// test cgroup:
//   1. allow -> established and deny -> failure: the time from an answer's RPC to the held app's
//      connect() ending, one host at a time while the connections wait (n each);
//   2. the TCP connect rate of already-decided traffic (an allow rule covers it) in ask mode vs
//      monitor mode, alternating in one run, on the loopback and a veth: paired ratios;
//   3. 1,000 held connections (20 apps x 50): the helper's CPU share and RSS while they wait.
// Writes bench/results/ask-<time>.json (BENCH_SMOKE=1: tiny sizes, into test-artifacts/) and prints
// a summary.
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import type { HelperClient } from '../main/client/helper-client.js';
import type { Prompt } from '../main/contract/index.js';
import { HelperProcess } from '../test/support/helper-process.js';
import { Sandbox } from '../test/support/sandbox.js';
import { makeLab, type Lab } from './lib/lab.js';
import { buildLoadgen, Loadgen } from './lib/loadgen.js';
import { describeMachine } from './lib/machine.js';
import { measureUsage } from './lib/proc-usage.js';
import { hasCommand, run } from './lib/process.js';
import { pairedRatios, percentile, summarize } from './lib/stats.js';

const ROOT = resolve(__dirname, '..');
const SMOKE = process.env.BENCH_SMOKE === '1';

function log(line: string): void {
  process.stdout.write(`[bench:ask ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function buildHeldConnects(outDir: string): string {
  const compiler = ['gcc', 'cc', 'clang'].find(hasCommand);
  if (!compiler) throw new Error('no C compiler (gcc, cc or clang) found: install gcc');
  const binary = join(outDir, 'held-connects');
  run(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, join(__dirname, 'held-connects.c')]);
  return binary;
}

/** A listener on every loopback address (127/8) that accepts and closes. */
async function loopbackListener(sandbox: Sandbox): Promise<{ server: Server; port: number; accepted: () => number }> {
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on('error', () => undefined);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { server, port: (server.address() as AddressInfo).port, accepted: () => accepted };
}

/** The held-connects app in the cgroup: its "done" lines by target index (errno, monotonic ns). */
function startHeld(sandbox: Sandbox, cgroup: string, exe: string, targets: string[], port: number) {
  const child = sandbox.spawnInCgroup(cgroup, [exe, '300', ...targets.flatMap((t) => [t, String(port)])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const done = new Map<number, { errno: number; ns: bigint }>();
  let started = false;
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const [word, index, errno, ns] = line.split(' ');
      if (word === 'started') started = true;
      if (word === 'done') done.set(Number(index), { errno: Number(errno), ns: BigInt(ns!) });
    }
  });
  return { child, done, started: () => started };
}

async function waitFor<T>(
  read: () => Promise<T> | T,
  ok: (value: T) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const heldIn = (prompt: Prompt) => prompt.hosts.reduce((sum, host) => sum + host.held, 0);

interface Latencies {
  n: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latencies(values: number[]): Latencies {
  return {
    n: values.length,
    p50Ms: percentile(values, 50),
    p90Ms: percentile(values, 90),
    p99Ms: percentile(values, 99),
    maxMs: Math.max(...values),
  };
}

/**
 * One app holds `count` connects to distinct loopback hosts; each host is answered in turn (a short
 * random pause apart) and timed from just before its RPC to the app's connect() ending.
 */
async function answerLatency(
  sandbox: Sandbox,
  helper: HelperProcess,
  client: HelperClient,
  exe: string,
  action: 'allow' | 'deny',
  count: number,
  subnet: number,
): Promise<{ latencies: Latencies; wrongOutcomes: number }> {
  const listener = await loopbackListener(sandbox);
  const targets = Array.from({ length: count }, (_, i) => `127.${subnet}.${(i >> 8) + 1}.${(i & 255) + 1}`);
  const app = startHeld(sandbox, helper.paths.cgroup, exe, targets, listener.port);
  const prompt = await waitFor(
    async () => (await client.call('prompts.list')).find((p) => p.pids.includes(app.child.pid!)),
    (found) => found !== undefined && heldIn(found) === count,
    `a question holding ${count} connections`,
  );
  const values: number[] = [];
  let wrongOutcomes = 0;
  for (const [index, target] of targets.entries()) {
    await sleep(5 + Math.random() * 15);
    const sentAt = process.hrtime.bigint();
    await client.call('prompts.answer', { id: prompt!.id, action, host: target });
    const outcome = await waitFor(
      () => app.done.get(index),
      (d) => d !== undefined,
      `connect ${index} ending`,
      30_000,
    );
    values.push(Number(outcome!.ns - sentAt) / 1e6);
    if (outcome!.errno !== (action === 'allow' ? 0 : 111) /* ECONNREFUSED */) wrongOutcomes++;
  }
  app.child.kill();
  if (action === 'deny' && listener.accepted() > 0)
    throw new Error(`${listener.accepted()} denied connections got through`);
  return { latencies: latencies(values), wrongOutcomes };
}

/** Connect rates of decided traffic, ask vs monitor mode alternating (the order rotates each round). */
async function decidedRates(
  sandbox: Sandbox,
  client: HelperClient,
  lab: Lab,
  rounds: number,
  durationMs: number,
): Promise<Record<string, { ask: number[]; monitor: number[] }>> {
  const lane = lab.firewall;
  const loadgen = new Loadgen(sandbox, lab, buildLoadgen(sandbox.makeTempDir('loadgen')));
  const rates: Record<string, { ask: number[]; monitor: number[] }> = {
    loopback: { ask: [], monitor: [] },
    veth: { ask: [], monitor: [] },
  };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? (['ask', 'monitor'] as const) : (['monitor', 'ask'] as const);
    for (const mode of order) {
      await client.call('settings.update', { patch: { defaultAction: mode === 'ask' ? 'ask' : 'allow' } });
      for (const path of ['loopback', 'veth'] as const) {
        const sample = await loadgen.tcpConnectRate(lane, path, { durationMs, maxCount: 2_000_000 });
        rates[path]![mode].push(sample.perSecond);
      }
    }
    log(`rates round ${round + 1}/${rounds} done`);
  }
  return rates;
}

async function main(): Promise<number> {
  const outDir = SMOKE ? join(ROOT, 'test-artifacts', 'bench-smoke') : join(ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const machine = describeMachine();
  log(`${SMOKE ? 'smoke run' : 'full run'} on ${machine.cpuModel}, ${machine.cores} cores, kernel ${machine.kernel}`);
  const sandbox = new Sandbox();
  const onSignal = () => void sandbox.dispose().finally(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const work = sandbox.makeTempDir('bench-ask');
    const heldExe = buildHeldConnects(work);
    const lab = makeLab(sandbox);
    const lane = lab.firewall;
    // The helper attaches to the firewall lane's cgroup; the held apps run there in the host's namespace.
    const helper = await HelperProcess.start(sandbox, { cgroup: lane.cgroup });
    const client = await helper.client('bench-ask');
    await client.call('settings.update', { patch: { defaultAction: 'ask', askTimeoutSec: 110 } });

    // 1. Answer latencies.
    const n = SMOKE ? 10 : 200;
    log(`allow -> established, n=${n}`);
    const allow = await answerLatency(sandbox, helper, client, heldExe, 'allow', n, 21);
    log(`deny -> failure, n=${n}`);
    const deny = await answerLatency(sandbox, helper, client, heldExe, 'deny', n, 22);

    // 3. 1,000 held connections: the helper while they wait (before the rate runs change the mode).
    const apps = SMOKE ? 2 : 20;
    const perApp = 50;
    const idle = await measureUsage(helper.pid!, SMOKE ? 1000 : 5000);
    const listener = await loopbackListener(sandbox);
    const held = Array.from({ length: apps }, (_, a) =>
      startHeld(
        sandbox,
        lane.cgroup,
        heldExe,
        Array.from({ length: perApp }, (_, i) => `127.23.${a + 1}.${i + 1}`),
        listener.port,
      ),
    );
    const burstStarted = performance.now();
    await waitFor(
      async () => (await client.call('prompts.list')).reduce((sum, p) => sum + heldIn(p), 0),
      (total) => total === apps * perApp,
      `${apps * perApp} held connections`,
    );
    const burstMs = performance.now() - burstStarted;
    const waiting = await measureUsage(helper.pid!, SMOKE ? 1000 : 10_000);
    const statusStarted = performance.now();
    await client.call('status');
    const statusMs = performance.now() - statusStarted;
    for (const app of held) app.child.kill();
    await waitFor(
      () => client.call('prompts.list'),
      (list) => list.length === 0,
      'the questions of quit apps gone',
    );
    if (listener.accepted() > 0) throw new Error(`${listener.accepted()} held connections got through`);

    // 2. Decided traffic: an allow rule covers the targets, so no connection is held in ask mode.
    await client.call('rules.add', { rule: { action: 'allow', remote: '127.0.0.1', note: 'bench: decided' } });
    await client.call('rules.add', { rule: { action: 'allow', remote: lane.serverAddr, note: 'bench: decided' } });
    const rounds = SMOKE ? 2 : 8;
    const rates = await decidedRates(sandbox, client, lab, rounds, SMOKE ? 200 : 1000);
    const ratios = Object.fromEntries(
      Object.entries(rates).map(([path, { ask, monitor }]) => [
        path,
        { ask: summarize(ask), monitor: summarize(monitor), askOverMonitor: summarize(pairedRatios(ask, monitor)) },
      ]),
    );

    const results = {
      benchmark: 'ask',
      smoke: SMOKE,
      startedAt: new Date().toISOString(),
      machine,
      allowToEstablished: allow,
      denyToFailure: deny,
      decidedConnectRate: ratios,
      held: {
        connections: apps * perApp,
        apps,
        burstToQuestionsMs: burstMs,
        helperIdle: idle,
        helperWhileHeld: waiting,
        statusWhileHeldMs: statusMs,
      },
    };
    const file = join(outDir, `ask-${results.startedAt.replace(/[:.]/g, '-').slice(0, 19)}Z.json`);
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    const ms = (l: Latencies) =>
      `p50 ${l.p50Ms.toFixed(1)} ms, p90 ${l.p90Ms.toFixed(1)}, p99 ${l.p99Ms.toFixed(1)}, max ${l.maxMs.toFixed(1)} (n=${l.n})`;
    log(`allow -> established: ${ms(allow.latencies)}; wrong outcomes ${allow.wrongOutcomes}`);
    log(`deny -> failure: ${ms(deny.latencies)}; wrong outcomes ${deny.wrongOutcomes}`);
    for (const [path, r] of Object.entries(ratios))
      log(
        `decided connects, ${path}: ask ${r.ask.median.toFixed(0)}/s, monitor ${r.monitor.median.toFixed(0)}/s, ask/monitor median ${r.askOverMonitor.median.toFixed(3)} (min ${r.askOverMonitor.min.toFixed(3)}, max ${r.askOverMonitor.max.toFixed(3)})`,
      );
    log(
      `${apps * perApp} held: questions complete ${burstMs.toFixed(0)} ms after the burst; helper ${waiting.cpuPercent.toFixed(2)}% CPU, ${waiting.rssMiB.toFixed(1)} MiB RSS while they wait (idle before: ${idle.cpuPercent.toFixed(2)}%, ${idle.rssMiB.toFixed(1)} MiB); status took ${statusMs.toFixed(1)} ms`,
    );
    log(`results: ${file}`);
    return 0;
  } finally {
    await sandbox.dispose();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error);
    process.exit(1);
  },
);
