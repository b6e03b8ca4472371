// Control-plane figures, each beside the peers doing the same job in the same run:
//   - one rule change -> enforcement: from the call until a probe's connect in the firewall lane
//     first fails (p50/p99): Portcullis through the helper's RPC, iptables -I, nft add element;
//   - importing a large blocklist (1M entries) and removing it again: Portcullis's CLI (portcullis
//     import FILE, then lists remove; a probe sees when the list is enforced), nftables as one set
//     load (then the table deleted), iptables-restore of linear rules; the helper's status answers
//     and peak RSS meanwhile;
//   - a 100k-entry subscription whose served copy changes 1 %: lists update to enforced
//     (subscription-update.ts);
//   - the firewall's own process at idle and at 1k new connections/s: the Portcullis helper
//     against the OpenSnitch daemon (RSS, CPU share).
// bench/main.ts runs it with every other benchmark; run alone (as root) for investigating:
//   node --import tsx bench/control-plane.ts [--parts change,import,subscription] [--loaded 10000]
//        [--changes 100] [--import 1000000] [--sub-entries 100000] [--cap-s 180] [--peers]   (JSON on stdout)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Sandbox } from '../test/support/sandbox.js';
import type { Contender } from './contenders/contender.js';
import { iptablesLinear, nftablesSet, flushNetfilter } from './contenders/netfilter.js';
import { portcullis, type PortcullisContender } from './contenders/portcullis.js';
import { compiledCli } from './lib/compiled-cli.js';
import { blockedAddresses } from './lib/blocklist.js';
import { makeLab, type Lab, type Lane } from './lib/lab.js';
import { buildLoadgen, Loadgen } from './lib/loadgen.js';
import { run, runTimed } from './lib/process.js';
import { measureUsage, procMiB, resetPeakRss, type UsageWindow } from './lib/proc-usage.js';
import { percentile, summarize, type Summary } from './lib/stats.js';
import { watchEnforcement, type EnforcementWatch } from './lib/enforcement-watch.js';
import { measureSubscriptionUpdate, type SubscriptionFigure } from './subscription-update.js';

export interface ControlPlanePlan {
  /** Rules already loaded when a change is made (the same for every firewall). */
  loadedRules: number;
  changeIterations: number;
  importEntries: number;
  /** Entries of the subscription whose 1 % update is timed (subscription-update.ts); 0: not measured. */
  subscriptionEntries: number;
  /** An import still running after this long is stopped and reported as partial. */
  importCapMs: number;
  usageWindowMs: number;
  connectsPerSecond: number;
  withOpenSnitch: boolean;
}

export interface LatencyFigure {
  firewall: string;
  how: string;
  iterations: number;
  /** Call -> first failing connect, ms. */
  enforcedMs: (Summary & { p50: number; p99: number }) | null;
  /** Call -> reply (or command exit), ms. */
  replyMs: (Summary & { p50: number; p99: number }) | null;
  /** Iterations whose first failing connect came before the reply (enforced before acknowledged). */
  enforcedBeforeReply: number;
  errors: string[];
}

export interface ImportFigure {
  firewall: string;
  how: string;
  requested: number;
  imported: number;
  elapsedMs: number;
  entriesPerSecond: number;
  capped: boolean;
  /** Taking the same entries out again (one command), and its rate. */
  removalMs?: number;
  removalPerSecond?: number;
  /** Portcullis: how long the helper took to answer status, asked every 50 ms while importing and removing. */
  statusMs?: (Summary & { p50: number; p99: number }) | null;
  /**
   * Portcullis: from the CLI's start until a probe in the lane was refused by the new list (the last
   * entry is the probe's address), beside the exit that elapsedMs times.
   */
  enforcedMs?: number | null;
  /** Portcullis: the helper's peak resident memory (VmHWM, reset before each) while importing and while removing, and its RSS before. */
  peakRssMiB?: number;
  peakRemovalRssMiB?: number;
  rssBeforeMiB?: number;
  error?: string;
}

export interface UsageFigure {
  firewall: string;
  idle: UsageWindow | null;
  underLoad: (UsageWindow & { connectsPerSecond: number; achievedPerSecond: number }) | null;
  /** Portcullis: connects as fast as one client can, and the decision events the helper took in meanwhile. */
  flatOut?: UsageWindow & { achievedPerSecond: number; eventsPerSecond: number; eventDrops: number };
  error?: string;
}

export interface ControlPlaneResults {
  plan: ControlPlanePlan;
  ruleChange: LatencyFigure[];
  import: ImportFigure[];
  /** Absent in results from before it was measured. */
  subscriptionUpdate?: SubscriptionFigure | null;
  usage: UsageFigure[];
}

/** One firewall's way to block and unblock one address, on the firewall lane. */
interface RuleChanger {
  firewall: string;
  how: string;
  contender: Contender;
  block(address: string): Promise<void>;
  unblock(address: string): Promise<void>;
}

function inNs(lane: Lane, command: string, args: string[], input?: string): string {
  return run('ip', ['netns', 'exec', lane.netns, command, ...args], input);
}

function withPercentiles(values: number[]): (Summary & { p50: number; p99: number }) | null {
  return values.length === 0
    ? null
    : { ...summarize(values), p50: percentile(values, 50), p99: percentile(values, 99) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowNs = () => Number(process.hrtime.bigint()); // CLOCK_MONOTONIC, like the probe's

function changers(sandbox: Sandbox, lane: Lane, loadedRules: number): RuleChanger[] {
  const helper = portcullis(sandbox, lane, loadedRules);
  let ruleId: number | null = null;
  return [
    {
      firewall: 'portcullis',
      how: 'rules.add / rules.remove over the helper socket',
      contender: helper,
      async block(address) {
        const rule = await helper
          .running()!
          .client.call('rules.add', { rule: { action: 'block', remote: address, direction: 'out' } });
        ruleId = rule.id;
      },
      async unblock() {
        if (ruleId !== null) await helper.running()!.client.call('rules.remove', { ids: [ruleId] });
        ruleId = null;
      },
    },
    {
      firewall: 'iptables',
      how: 'ip netns exec … iptables -I OUTPUT 1 -d ADDR -j DROP (a new process, as a person runs it)',
      contender: iptablesLinear(lane, loadedRules),
      async block(address) {
        inNs(lane, 'iptables', ['-I', 'OUTPUT', '1', '-d', address, '-j', 'DROP']);
      },
      async unblock() {
        inNs(lane, 'iptables', ['-D', 'OUTPUT', '1']);
      },
    },
    {
      firewall: 'nftables',
      how: 'ip netns exec … nft add element (a new process)',
      contender: nftablesSet(lane, loadedRules),
      async block(address) {
        inNs(lane, 'nft', ['add', 'element', 'inet', 'pcl_bench', 'blocked', `{ ${address} }`]);
      },
      async unblock(address) {
        inNs(lane, 'nft', ['delete', 'element', 'inet', 'pcl_bench', 'blocked', `{ ${address} }`]);
      },
    },
  ];
}

async function measureRuleChange(
  loadgen: Loadgen,
  lab: Lab,
  changer: RuleChanger,
  iterations: number,
  log: (line: string) => void,
): Promise<LatencyFigure> {
  const lane = lab.firewall;
  const enforced: number[] = [];
  const replies: number[] = [];
  const errors: string[] = [];
  let beforeReply = 0;
  try {
    await changer.contender.start();
  } catch (error) {
    await changer.contender.stop();
    throw error;
  }
  const sink = await loadgen.startTcpSink(lane, 'veth', 600);
  try {
    for (let i = 0; i < iterations; i++) {
      const probe = await loadgen.startProbe(lane, 'veth', sink.port, 10, 200);
      await sleep(15);
      const called = nowNs();
      await changer.block(lane.serverAddr);
      const replied = nowNs();
      const result = await probe.result;
      await changer.unblock(lane.serverAddr);
      if (result.failedAtNs === 0) {
        errors.push(`iteration ${i + 1}: connects still succeeded 10 s after the change`);
        continue;
      }
      // A refusal (EPERM) fails at once; a dropped SYN only when the probe gives up: then the
      // attempt's start is when the rule was known to be in force.
      const refused = result.errno === 1 || result.errno === 111;
      const failedAt = refused ? result.failedAtNs : result.attemptStartNs!;
      if (failedAt < called) {
        errors.push(`iteration ${i + 1}: a connect failed before the change was made (errno ${result.errno})`);
        await sleep(100);
        continue;
      }
      enforced.push(Math.max(0, failedAt - called) / 1e6);
      replies.push((replied - called) / 1e6);
      if (failedAt <= replied) beforeReply++;
      await sleep(20);
    }
  } finally {
    await sink.stop();
    await changer.contender.stop();
  }
  const figure: LatencyFigure = {
    firewall: changer.firewall,
    how: changer.how,
    iterations,
    enforcedMs: withPercentiles(enforced),
    replyMs: withPercentiles(replies),
    enforcedBeforeReply: beforeReply,
    errors,
  };
  log(
    `rule change ${changer.firewall.padEnd(10)} enforced p50 ${figure.enforcedMs?.p50.toFixed(2)} ms, p99 ${figure.enforcedMs?.p99.toFixed(2)} ms; reply p50 ${figure.replyMs?.p50.toFixed(2)} ms (${errors.length} errors)`,
  );
  return figure;
}

/**
 * Portcullis as a person imports a list: the compiled CLI, "portcullis import FILE", from its start
 * until it exits (the helper answers once the list is stored and enforced), then "portcullis lists
 * remove". Meanwhile another client asks the helper for its status every 50 ms.
 */
async function importPortcullis(
  sandbox: Sandbox,
  loadgen: Loadgen,
  lane: Lane,
  plan: ControlPlanePlan,
  workDir: string,
  log: (line: string) => void,
): Promise<ImportFigure> {
  const figure: ImportFigure = {
    firewall: 'portcullis',
    how: 'portcullis import FILE (compiled CLI, start to exit: stored and enforced), then portcullis lists remove',
    requested: plan.importEntries,
    imported: 0,
    elapsedMs: 0,
    entriesPerSecond: 0,
    capped: false,
  };
  let cli: readonly string[];
  try {
    cli = compiledCli();
  } catch (error) {
    figure.error = (error as Error).message.slice(0, 300);
    return figure;
  }
  const empty = portcullis(sandbox, lane, 0, { cli });
  const file = join(workDir, 'import-portcullis.txt');
  let polling = true;
  let poller: Promise<void> = Promise.resolve();
  const latencies: number[] = [];
  let watch: EnforcementWatch | null = null;
  try {
    await empty.start();
    const { helper, client } = empty.running()!;
    const socket = helper.paths.socket;
    figure.rssBeforeMiB = procMiB(helper.pid!, 'VmRSS');
    // A probe every 10 ms (a few events a second for the helper: no load that would slow the import).
    watch = await watchEnforcement(loadgen, lane, Math.ceil(plan.importCapMs / 1000), 10_000);
    const addresses = blockedAddresses(plan.importEntries);
    addresses[addresses.length - 1] = watch.address;
    writeFileSync(file, `${addresses.join('\n')}\n`);
    poller = (async () => {
      while (polling) {
        const asked = performance.now();
        await client.call('status');
        latencies.push(performance.now() - asked);
        await sleep(50);
      }
    })();
    resetPeakRss(helper.pid!);
    const called = Number(process.hrtime.bigint());
    const imported = await runTimed(
      cli[0]!,
      [...cli.slice(1), '--socket', socket, 'import', file, '--format', 'plain', '--list', 'bench-import', '--json'],
      plan.importCapMs,
    );
    figure.elapsedMs = Math.round(imported.elapsedMs);
    const enforced = await watch.enforcedSince(called, 5000);
    await watch.stop();
    figure.peakRssMiB = procMiB(helper.pid!, 'VmHWM');
    figure.enforcedMs = enforced.ms === null ? null : Math.round(enforced.ms);
    if (enforced.ms === null)
      throw new Error(`the probe was not refused within 5 s of the import's exit (errno ${enforced.errno ?? 'none'})`);
    if (imported.code !== 0) throw new Error(`portcullis import exited ${imported.code}: ${imported.stderr.trim()}`);
    figure.imported = (JSON.parse(imported.stdout) as { added: number }).added;
    figure.entriesPerSecond = figure.imported / (imported.elapsedMs / 1000);
    const status = await client.call('status');
    if (status.lists.entries !== figure.imported)
      throw new Error(`the helper reports ${status.lists.entries} list entries after importing ${figure.imported}`);
    resetPeakRss(helper.pid!);
    const removed = await runTimed(
      cli[0]!,
      [...cli.slice(1), '--socket', socket, 'lists', 'remove', 'bench-import'],
      plan.importCapMs,
    );
    if (removed.code !== 0) throw new Error(`portcullis lists remove exited ${removed.code}: ${removed.stderr.trim()}`);
    figure.removalMs = Math.round(removed.elapsedMs);
    figure.removalPerSecond = figure.imported / (removed.elapsedMs / 1000);
    if ((await client.call('status')).lists.entries !== 0) throw new Error('entries are left after lists remove');
    figure.peakRemovalRssMiB = procMiB(helper.pid!, 'VmHWM');
    polling = false;
    await poller;
  } catch (error) {
    figure.error = (error as Error).message.slice(0, 500);
  } finally {
    polling = false;
    await poller.catch(() => undefined);
    await watch?.stop();
    figure.statusMs = withPercentiles(latencies);
    await empty.stop();
  }
  log(
    `import portcullis: ${figure.imported} of ${figure.requested} in ${figure.elapsedMs} ms (enforced after ${figure.enforcedMs} ms), removed in ${figure.removalMs} ms; status max ${figure.statusMs?.max.toFixed(0)} ms; peak RSS ${figure.peakRssMiB?.toFixed(0)} MiB importing, ${figure.peakRemovalRssMiB?.toFixed(0)} MiB removing${figure.error ? ` ERROR ${figure.error}` : ''}`,
  );
  return figure;
}

function importNetfilter(
  lane: Lane,
  plan: ControlPlanePlan,
  workDir: string,
  which: 'nftables' | 'iptables',
  log: (line: string) => void,
): ImportFigure {
  const addresses = blockedAddresses(plan.importEntries);
  const file = join(workDir, `import-${which}.txt`);
  const script =
    which === 'nftables'
      ? `add table inet pcl_import\nadd set inet pcl_import blocked { type ipv4_addr; }\nadd element inet pcl_import blocked { ${addresses.join(', ')} }\n`
      : `*filter\n:OUTPUT ACCEPT [0:0]\n${addresses.map((a) => `-A OUTPUT -d ${a}/32 -j DROP`).join('\n')}\nCOMMIT\n`;
  writeFileSync(file, script);
  const figure: ImportFigure = {
    firewall: which,
    how:
      which === 'nftables'
        ? 'nft -f: one set, every address in one add element; then nft delete table'
        : 'iptables-restore: one linear rule per address; then iptables -F OUTPUT',
    requested: plan.importEntries,
    imported: 0,
    elapsedMs: 0,
    entriesPerSecond: 0,
    capped: false,
  };
  const inNs = (args: string[]) => [
    'timeout',
    String(Math.ceil(plan.importCapMs / 1000)),
    'ip',
    'netns',
    'exec',
    lane.netns,
    ...args,
  ];
  let began = performance.now();
  try {
    const load = inNs(which === 'nftables' ? ['nft', '-f', file] : ['iptables-restore', file]);
    run(load[0]!, load.slice(1));
    figure.elapsedMs = Math.round(performance.now() - began);
    figure.imported = plan.importEntries;
    figure.entriesPerSecond = figure.imported / (figure.elapsedMs / 1000);
    began = performance.now();
    const remove = inNs(
      which === 'nftables' ? ['nft', 'delete', 'table', 'inet', 'pcl_import'] : ['iptables', '-F', 'OUTPUT'],
    );
    run(remove[0]!, remove.slice(1));
    figure.removalMs = Math.round(performance.now() - began);
    figure.removalPerSecond = figure.imported / (figure.removalMs / 1000);
  } catch (error) {
    figure.error = (error as Error).message.slice(0, 300);
    figure.capped = performance.now() - began >= plan.importCapMs;
    if (figure.elapsedMs === 0) figure.elapsedMs = Math.round(performance.now() - began);
  } finally {
    flushNetfilter(lane);
  }
  log(
    `import ${which}: ${figure.imported} in ${figure.elapsedMs} ms, removed in ${figure.removalMs} ms${figure.error ? ` ERROR ${figure.error}` : ''}`,
  );
  return figure;
}

/** What the helper says it has taken in: events seen and dropped so far. */
type EventCounts = () => Promise<{ seen: number; drops: number }>;

async function measureDaemonUsage(
  loadgen: Loadgen,
  lab: Lab,
  firewall: string,
  contender: Contender,
  pid: () => number | undefined,
  plan: ControlPlanePlan,
  log: (line: string) => void,
  eventCounts?: EventCounts,
): Promise<UsageFigure> {
  const figure: UsageFigure = { firewall, idle: null, underLoad: null };
  try {
    await contender.start();
    const daemon = pid();
    if (!daemon) throw new Error(`no ${firewall} process to measure`);
    await sleep(1000); // let start-up work settle
    figure.idle = await measureUsage(daemon, plan.usageWindowMs);
    const load = loadgen.pacedConnects(lab.firewall, 'veth', plan.usageWindowMs, plan.connectsPerSecond);
    let achieved = 0;
    const underLoad = await measureUsage(daemon, async () => {
      const result = await load.done;
      achieved = result.ok / (result.elapsedNs / 1e9);
    });
    await load.stop();
    figure.underLoad = { ...underLoad, connectsPerSecond: plan.connectsPerSecond, achievedPerSecond: achieved };
    if (eventCounts) {
      const before = await eventCounts();
      const began = performance.now();
      let flatOutRate = 0;
      const usage = await measureUsage(daemon, async () => {
        flatOutRate = (
          await loadgen.tcpConnectRate(lab.firewall, 'loopback', {
            durationMs: plan.usageWindowMs,
            maxCount: 10_000_000,
          })
        ).perSecond;
      });
      await sleep(300); // the helper drains what the ring buffer still holds
      const after = await eventCounts();
      const seconds = (performance.now() - began) / 1000;
      figure.flatOut = {
        ...usage,
        achievedPerSecond: flatOutRate,
        eventsPerSecond: (after.seen - before.seen) / seconds,
        eventDrops: after.drops - before.drops,
      };
    }
  } catch (error) {
    figure.error = (error as Error).message;
  } finally {
    await contender.stop();
  }
  if (figure.flatOut)
    log(
      `usage ${firewall} flat out: ${figure.flatOut.achievedPerSecond.toFixed(0)} connects/s, ${figure.flatOut.eventsPerSecond.toFixed(0)} events/s into the helper, ${figure.flatOut.eventDrops} dropped, ${figure.flatOut.cpuPercent.toFixed(1)}% CPU`,
    );
  log(
    `usage ${firewall}: idle ${figure.idle?.cpuPercent.toFixed(1)}% CPU, ${figure.idle?.rssMiB.toFixed(0)} MiB; at ${plan.connectsPerSecond}/s ${figure.underLoad?.cpuPercent.toFixed(1)}% CPU, ${figure.underLoad?.rssMiB.toFixed(0)} MiB (achieved ${figure.underLoad?.achievedPerSecond.toFixed(0)}/s)`,
  );
  return figure;
}

export async function runControlPlane(
  sandbox: Sandbox,
  loadgen: Loadgen,
  lab: Lab,
  plan: ControlPlanePlan,
  workDir: string,
  openSnitchFactory: (() => Contender & { pid(): number | undefined }) | null,
  log: (line: string) => void,
): Promise<ControlPlaneResults> {
  const ruleChange: LatencyFigure[] = [];
  for (const changer of changers(sandbox, lab.firewall, plan.loadedRules)) {
    try {
      ruleChange.push(await measureRuleChange(loadgen, lab, changer, plan.changeIterations, log));
    } catch (error) {
      log(`rule change ${changer.firewall}: FAILED ${(error as Error).message}`);
      ruleChange.push({
        firewall: changer.firewall,
        how: changer.how,
        iterations: plan.changeIterations,
        enforcedMs: null,
        replyMs: null,
        enforcedBeforeReply: 0,
        errors: [(error as Error).message.slice(0, 500)],
      });
    }
  }
  const imports = [
    importNetfilter(lab.firewall, plan, workDir, 'nftables', log),
    importNetfilter(lab.firewall, plan, workDir, 'iptables', log),
    await importPortcullis(sandbox, loadgen, lab.firewall, plan, workDir, log),
  ];
  const subscriptionUpdate =
    plan.subscriptionEntries > 0
      ? await measureSubscriptionUpdate(sandbox, loadgen, lab, subscriptionPlan(plan), workDir, log)
      : null;
  const usage: UsageFigure[] = [];
  const helper: PortcullisContender = portcullis(sandbox, lab.firewall, plan.loadedRules);
  const helperEvents: EventCounts = async () => {
    const status = await helper.running()!.client.call('status');
    return { seen: status.eventsSeen, drops: status.eventDrops };
  };
  usage.push(
    await measureDaemonUsage(
      loadgen,
      lab,
      'portcullis',
      helper,
      () => helper.running()?.helper.pid,
      plan,
      log,
      helperEvents,
    ),
  );
  if (openSnitchFactory) {
    const snitch = openSnitchFactory();
    usage.push(await measureDaemonUsage(loadgen, lab, 'opensnitch', snitch, () => snitch.pid(), plan, log));
  }
  return { plan, ruleChange, import: imports, subscriptionUpdate, usage };
}

function subscriptionPlan(plan: ControlPlanePlan) {
  return { entries: plan.subscriptionEntries, changedShare: 0.01, capMs: plan.importCapMs };
}

/** The control-plane figures alone, Portcullis only unless --peers (see the top of this file). */
async function standalone(): Promise<void> {
  const { values } = parseArgs({
    options: {
      parts: { type: 'string', default: 'change,import' },
      loaded: { type: 'string', default: '10000' },
      changes: { type: 'string', default: '100' },
      import: { type: 'string', default: '1000000' },
      'sub-entries': { type: 'string', default: '100000' },
      'cap-s': { type: 'string', default: '180' },
      peers: { type: 'boolean', default: false },
    },
  });
  const parts = new Set(values.parts.split(','));
  const plan: ControlPlanePlan = {
    loadedRules: Number(values.loaded),
    changeIterations: Number(values.changes),
    importEntries: Number(values.import),
    subscriptionEntries: Number(values['sub-entries']),
    importCapMs: Number(values['cap-s']) * 1000,
    usageWindowMs: 5000,
    connectsPerSecond: 1000,
    withOpenSnitch: false,
  };
  const log = (line: string) =>
    process.stderr.write(`[control-plane ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const sandbox = new Sandbox();
  const results: Partial<ControlPlaneResults> = { plan };
  try {
    const work = sandbox.makeTempDir('bench');
    const lab = makeLab(sandbox);
    const loadgen = new Loadgen(sandbox, lab, buildLoadgen(work));
    if (parts.has('change')) {
      results.ruleChange = [];
      for (const changer of changers(sandbox, lab.firewall, plan.loadedRules).filter(
        (c) => values.peers || c.firewall === 'portcullis',
      )) {
        results.ruleChange.push(await measureRuleChange(loadgen, lab, changer, plan.changeIterations, log));
      }
    }
    if (parts.has('import')) {
      // nftables always: Portcullis's import is measured as a ratio to it, in the same run.
      results.import = [importNetfilter(lab.firewall, plan, work, 'nftables', log)];
      results.import.push(await importPortcullis(sandbox, loadgen, lab.firewall, plan, work, log));
      const [nft, helper] = results.import;
      if (nft && helper && !nft.error && !helper.error)
        log(
          `ratio to nft -f: import ${(helper.entriesPerSecond / nft.entriesPerSecond).toFixed(2)}x, removal ${(helper.removalPerSecond! / nft.removalPerSecond!).toFixed(2)}x`,
        );
    }
    if (parts.has('subscription'))
      results.subscriptionUpdate = await measureSubscriptionUpdate(
        sandbox,
        loadgen,
        lab,
        subscriptionPlan(plan),
        work,
        log,
      );
  } finally {
    await sandbox.dispose();
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
}

if (require.main === module) {
  standalone().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
