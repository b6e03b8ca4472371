// Control-plane figures, each beside the peers doing the same job in the same run (each part in a
// module of its own: lib/rule-change.ts, lib/imports.ts, subscription-update.ts, lib/daemon-usage.ts):
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
import { parseArgs } from 'node:util';
import type { ControlPlanePlan } from './lib/control-plane-plan.js';
import { Sandbox } from '../test/support/sandbox.js';
import type { Contender } from './contenders/contender.js';
import { portcullis, type PortcullisContender } from './contenders/portcullis.js';
import { measureDaemonUsage, type EventCounts, type UsageFigure } from './lib/daemon-usage.js';
import { importNetfilter, importPortcullis, type ImportFigure } from './lib/imports.js';
import { makeLab, type Lab } from './lib/lab.js';
import { buildLoadgen, Loadgen } from './lib/loadgen.js';
import { changers, measureRuleChange, type LatencyFigure } from './lib/rule-change.js';
import { measureSubscriptionUpdate, type SubscriptionFigure } from './subscription-update.js';

export type { ControlPlanePlan, ImportFigure, LatencyFigure, UsageFigure };

export interface ControlPlaneResults {
  plan: ControlPlanePlan;
  ruleChange: LatencyFigure[];
  import: ImportFigure[];
  /** Absent in results from before it was measured. */
  subscriptionUpdate?: SubscriptionFigure | null;
  usage: UsageFigure[];
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
