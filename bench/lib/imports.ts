// Importing a large blocklist and removing it again: Portcullis's compiled CLI (a probe sees when the
// list is enforced; the helper's status answers and peak RSS meanwhile), nftables as one set load,
// iptables-restore of linear rules.
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../test/support/sandbox.js';
import { flushNetfilter } from '../contenders/netfilter.js';
import { portcullis } from '../contenders/portcullis.js';
import type { ControlPlanePlan } from './control-plane-plan.js';
import { blockedAddresses } from './blocklist.js';
import { compiledCli } from './compiled-cli.js';
import { watchEnforcement, type EnforcementWatch } from './enforcement-watch.js';
import type { Lane } from './lab.js';
import type { Loadgen } from './loadgen.js';
import { run, runTimed } from './process.js';
import { procMiB, resetPeakRss } from './proc-usage.js';
import { summarizeWithPercentiles, type Summary } from './stats.js';

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

/**
 * Portcullis as a person imports a list: the compiled CLI, "portcullis import FILE", from its start
 * until it exits (the helper answers once the list is stored and enforced), then "portcullis lists
 * remove". Meanwhile another client asks the helper for its status every 50 ms.
 */
export async function importPortcullis(
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
    figure.statusMs = summarizeWithPercentiles(latencies);
    await empty.stop();
  }
  log(
    `import portcullis: ${figure.imported} of ${figure.requested} in ${figure.elapsedMs} ms (enforced after ${figure.enforcedMs} ms), removed in ${figure.removalMs} ms; status max ${figure.statusMs?.max.toFixed(0)} ms; peak RSS ${figure.peakRssMiB?.toFixed(0)} MiB importing, ${figure.peakRemovalRssMiB?.toFixed(0)} MiB removing${figure.error ? ` ERROR ${figure.error}` : ''}`,
  );
  return figure;
}

export function importNetfilter(
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
