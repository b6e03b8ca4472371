// A blocklist subscription's routine update: N entries subscribed, then the list server's copy
// changes 1 % (that many entries leave, as many come) and "portcullis lists update" runs. Measured
// from the CLI's start: until it exits (fetched with a conditional request, diffed, stored,
// applied), and until the kernel refuses a probe's connect to one of the new entries (the lane's
// veth peer is among them). The list server is a real HTTP server in a test network namespace;
// the helper fetches from it itself. A figure, not a test: nothing here asserts a time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ListUpdate } from '../main/contract/index.js';
import type { Sandbox } from '../test/support/sandbox.js';
import { REPO_ROOT } from '../test/support/helper-process.js';
import { probeConnect, SYSTEM_PYTHON } from '../test/support/connect-probe.js';
import { portcullis, type PortcullisContender } from './contenders/portcullis.js';
import { blockedAddress } from './lib/blocklist.js';
import { compiledCli } from './lib/compiled-cli.js';
import { watchEnforcement, type EnforcementWatch } from './lib/enforcement-watch.js';
import type { Lab } from './lib/lab.js';
import type { Loadgen } from './lib/loadgen.js';
import { runTimed } from './lib/process.js';
import { procMiB, resetPeakRss } from './lib/proc-usage.js';

export interface SubscriptionPlan {
  entries: number;
  /** Share of the entries replaced by the update (0.01 = 1 %). */
  changedShare: number;
  capMs: number;
}

export interface SubscriptionFigure {
  how: string;
  entries: number;
  /** Entries the update took out and brought in, as the helper reported them. */
  removed: number;
  added: number;
  /** lists add: the first fetch of N entries, stored and applied (CLI start to exit). */
  subscribeMs: number;
  /** lists update: CLI start to exit. */
  updateMs: number;
  /** lists update: CLI start to the first connect to a new entry refused by the kernel. */
  updateEnforcedMs: number | null;
  /** After the update: a new entry, a kept one and one that left, as a connect from the lane saw them. */
  probes: { added: string; kept: string; left: string } | null;
  /** The helper's peak RSS (VmHWM, reset before) during the update. */
  peakRssMiB?: number;
  error?: string;
}

const LIST_SERVER = join(REPO_ROOT, 'test', 'integration', 'list-server.py');
const PORT = 8080;

export async function measureSubscriptionUpdate(
  sandbox: Sandbox,
  loadgen: Loadgen,
  lab: Lab,
  plan: SubscriptionPlan,
  workDir: string,
  log: (line: string) => void,
): Promise<SubscriptionFigure> {
  const changed = Math.max(1, Math.round(plan.entries * plan.changedShare));
  const figure: SubscriptionFigure = {
    how: `portcullis lists update (compiled CLI) after the served list replaced ${changed} of ${plan.entries} entries; list server over http in a test netns`,
    entries: plan.entries,
    removed: 0,
    added: 0,
    subscribeMs: 0,
    updateMs: 0,
    updateEnforcedMs: null,
    probes: null,
  };
  const lane = lab.firewall;
  let helperContender: PortcullisContender | null = null;
  let watch: EnforcementWatch | null = null;
  try {
    const cli = compiledCli();
    helperContender = portcullis(sandbox, lane, 0, { cli });
    const host = sandbox.makeTestHost(7);
    const root = sandbox.makeTempDir('bench-lists');
    const server = sandbox.spawnInNetns(host.netns, [SYSTEM_PYTHON, LIST_SERVER, root, host.peer4, String(PORT)]);
    await new Promise<void>((resolve, reject) => {
      let said = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('ready')) resolve();
      });
      server.once('exit', (code) => reject(new Error(`the list server exited (${code})`)));
    });
    const serve = (addresses: readonly string[]) =>
      writeFileSync(join(root, 'feed.txt'), `# bench feed\n${addresses.join('\n')}\n`);
    const first = Array.from({ length: plan.entries }, (_, i) => blockedAddress(i));
    serve(first);

    await helperContender.start();
    const { helper } = helperContender.running()!;
    const portcullisCli = async (args: string[]) => {
      const result = await runTimed(
        cli[0]!,
        [...cli.slice(1), '--socket', helper.paths.socket, ...args, '--json'],
        plan.capMs,
      );
      if (result.code !== 0)
        throw new Error(`portcullis ${args.join(' ')} exited ${result.code}: ${result.stderr.trim()}`);
      return result;
    };
    const subscribed = await portcullisCli(['lists', 'add', `http://${host.peer4}:${PORT}/feed.txt`, '--name', 'feed']);
    figure.subscribeMs = Math.round(subscribed.elapsedMs);
    const initial = JSON.parse(subscribed.stdout) as ListUpdate;
    if (initial.list.entryCount !== plan.entries)
      throw new Error(`subscribed ${initial.list.entryCount} entries, expected ${plan.entries}`);

    // 1 %: the first `changed` entries leave; as many come, the probe's address among them.
    watch = await watchEnforcement(loadgen, lane, Math.ceil(plan.capMs / 1000), 2000);
    const incoming = Array.from({ length: changed - 1 }, (_, i) => blockedAddress(plan.entries + i));
    serve([...first.slice(changed), ...incoming, watch.address]);
    resetPeakRss(helper.pid!);
    const called = Number(process.hrtime.bigint());
    const updated = await portcullisCli(['lists', 'update', 'feed']);
    figure.updateMs = Math.round(updated.elapsedMs);
    const enforced = await watch.enforcedSince(called, 5000);
    figure.updateEnforcedMs = enforced.ms === null ? null : Math.round(enforced.ms);
    figure.peakRssMiB = procMiB(helper.pid!, 'VmHWM');
    await watch.stop();
    const [outcome] = JSON.parse(updated.stdout) as ListUpdate[];
    figure.added = outcome!.added;
    figure.removed = outcome!.removed;
    const [added, kept, left] = await probeConnect(
      sandbox,
      lane.cgroup,
      [incoming[0] ?? watch.address, first[changed]!, first[0]!].map((address) => ({ host: address, port: 9 })),
      { netns: lane.netns },
    );
    figure.probes = { added: added!, kept: kept!, left: left! };
    const problems = [
      outcome!.result !== 'changed' ? `the update was ${outcome!.result}: ${outcome!.error}` : null,
      figure.added !== changed || figure.removed !== changed
        ? `the helper reported +${figure.added} -${figure.removed}, expected +${changed} -${changed}`
        : null,
      enforced.ms === null
        ? `the probe was not refused within 5 s of the exit (errno ${enforced.errno ?? 'none'})`
        : null,
      added !== 'EPERM' || kept !== 'EPERM' || left === 'EPERM'
        ? `after the update a new entry was ${added}, a kept one ${kept}, one that left ${left}`
        : null,
    ].filter((p): p is string => p !== null);
    if (problems.length > 0) figure.error = problems.join('; ');
  } catch (error) {
    figure.error = (error as Error).message.slice(0, 500);
  } finally {
    await watch?.stop();
    await helperContender?.stop();
  }
  log(
    `subscription update: ${plan.entries} subscribed in ${figure.subscribeMs} ms; +${figure.added} -${figure.removed} in ${figure.updateMs} ms (enforced after ${figure.updateEnforcedMs} ms), peak RSS ${figure.peakRssMiB?.toFixed(0)} MiB${figure.error ? ` ERROR ${figure.error}` : ''}`,
  );
  return figure;
}
