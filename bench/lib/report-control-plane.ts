// The control-plane part of REPORT.md: rule change latency, imports, the firewall process's cost.
import type { ControlPlaneResults, UsageFigure } from '../control-plane.js';

const ms = (value: number | undefined) =>
  value === undefined ? 'n/a' : value < 10 ? value.toFixed(2) : value.toFixed(0);

export function controlPlaneSection(control: ControlPlaneResults | null): string[] {
  const lines = ['## Control plane', ''];
  if (!control) {
    lines.push('Not measured: Portcullis could not run (its native addon is not built).', '');
    return lines;
  }
  const { plan } = control;
  lines.push(
    `### One rule change → enforcement (${plan.loadedRules} rules already loaded, ${plan.changeIterations} changes each)`,
    '',
    'From the call until the first connect of a probe in the firewall lane fails (the probe connects every 0.2 ms over the veth; a dropped SYN counts from the attempt that was dropped).',
    '',
    '| firewall | how | enforced p50 | p99 | max | reply p50 | p99 | enforced before the reply | errors |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const f of control.ruleChange) {
    lines.push(
      `| ${f.firewall} | ${f.how} | ${ms(f.enforcedMs?.p50)} ms | ${ms(f.enforcedMs?.p99)} ms | ${ms(f.enforcedMs?.max)} ms | ${ms(f.replyMs?.p50)} ms | ${ms(f.replyMs?.p99)} ms | ${f.enforcedBeforeReply} of ${f.enforcedMs?.n ?? 0} | ${f.errors.length} |`,
    );
  }
  lines.push(
    '',
    `### Importing ${control.import[0]?.requested ?? plan.importEntries} blocked addresses, and removing them (each stopped after ${plan.importCapMs / 1000} s)`,
    '',
    "From the command's start until it exits; the rates as ratios to nftables in the same run. Portcullis's list ends with the address of a probe in the lane (a connect every 10 ms): enforced is when the kernel first refused it.",
    '',
    '| firewall | how | imported | time | enforced | entries/s | ratio to nftables | removal | removal ratio |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  const nft = control.import.find((f) => f.firewall === 'nftables' && !f.error);
  const ratio = (value: number | undefined, base: number | undefined) =>
    value !== undefined && base !== undefined && base > 0 ? `${(value / base).toFixed(2)}x` : 'n/a';
  for (const f of control.import) {
    lines.push(
      `| ${f.firewall} | ${f.how} | ${f.imported}${f.capped ? ' (stopped at the cap)' : ''}${f.error ? ` — error: ${f.error}` : ''} | ${(f.elapsedMs / 1000).toFixed(2)} s | ${f.enforcedMs != null ? `${(f.enforcedMs / 1000).toFixed(2)} s` : f.firewall === 'portcullis' ? 'n/a' : 'at exit'} | ${Math.round(f.entriesPerSecond)} | ${ratio(f.entriesPerSecond, nft?.entriesPerSecond)} | ${f.removalMs !== undefined ? `${(f.removalMs / 1000).toFixed(2)} s` : 'n/a'} | ${ratio(f.removalPerSecond, nft?.removalPerSecond)} |`,
    );
  }
  const helper = control.import.find((f) => f.firewall === 'portcullis');
  if (helper?.statusMs)
    lines.push(
      '',
      `While Portcullis imported and removed, the helper answered status (asked every 50 ms, ${helper.statusMs.n} times) in p50 ${ms(helper.statusMs.p50)} ms, p99 ${ms(helper.statusMs.p99)} ms, at most ${ms(helper.statusMs.max)} ms. Its RSS was ${helper.rssBeforeMiB?.toFixed(0) ?? 'n/a'} MiB before the import; its peak (VmHWM, reset before each) ${helper.peakRssMiB?.toFixed(0) ?? 'n/a'} MiB while importing, ${helper.peakRemovalRssMiB?.toFixed(0) ?? 'n/a'} MiB while removing.`,
    );
  const sub = control.subscriptionUpdate;
  if (sub) {
    lines.push(
      '',
      `### A ${sub.entries}-entry subscription whose served copy changes 1 %`,
      '',
      `${sub.how}. From the CLI's start until it exits, and until the kernel first refused a probe's connect to one of the new entries (a connect every 2 ms).`,
      '',
      '| subscribe (first fetch) | update: exit | update: enforced | entries out / in | helper peak RSS during the update | after: new / kept / left entry |',
      '|---|---|---|---|---|---|',
      `| ${ms(sub.subscribeMs)} ms | ${ms(sub.updateMs)} ms | ${sub.updateEnforcedMs !== null ? `${ms(sub.updateEnforcedMs)} ms` : 'n/a'} | ${sub.removed} / ${sub.added} | ${sub.peakRssMiB?.toFixed(0) ?? 'n/a'} MiB | ${sub.probes ? `${sub.probes.added} / ${sub.probes.kept} / ${sub.probes.left}` : 'n/a'} |`,
    );
    if (sub.error) lines.push('', `Error: ${sub.error}`);
  }
  lines.push(
    '',
    `### The firewall's own process: idle, and at ${plan.connectsPerSecond} new TCP connections/s (${plan.usageWindowMs} ms windows, ${plan.loadedRules} rules loaded)`,
    '',
    ...warmUpNote(control.usage),
    '| process | idle CPU (one core) | idle RSS | CPU under load | RSS under load | connections/s achieved |',
    '|---|---|---|---|---|---|',
  );
  for (const f of control.usage) {
    const label = f.firewall === 'portcullis' ? 'Portcullis helper' : 'OpenSnitch daemon';
    lines.push(
      `| ${label}${f.error ? ` (error: ${f.error})` : ''} | ${f.idle?.cpuPercent.toFixed(1) ?? 'n/a'}% | ${f.idle?.rssMiB.toFixed(0) ?? 'n/a'} MiB | ${f.underLoad?.cpuPercent.toFixed(1) ?? 'n/a'}% | ${f.underLoad?.rssMiB.toFixed(0) ?? 'n/a'} MiB | ${f.underLoad?.achievedPerSecond.toFixed(0) ?? 'n/a'} |`,
    );
  }
  const flatOut = control.usage.find((f) => f.flatOut)?.flatOut;
  if (flatOut) {
    lines.push(
      '',
      `Flat out (one client connecting over loopback as fast as it can for ${plan.usageWindowMs} ms): ${flatOut.achievedPerSecond.toFixed(0)} connections/s, ` +
        `${flatOut.eventsPerSecond.toFixed(0)} decision events/s taken in by the helper, ${flatOut.eventDrops} dropped, helper CPU ${flatOut.cpuPercent.toFixed(1)}% of one core, RSS ${flatOut.rssMiB.toFixed(0)} MiB. ` +
        "This is the event rate real traffic produced here, not the helper's capacity (see the events benchmark for that).",
    );
  }
  lines.push('');
  return lines;
}

/** Whether the usage windows came after a warm-up (results from before it was added did not). */
function warmUpNote(usage: readonly UsageFigure[]): string[] {
  const warmUpMs = usage.find((f) => f.warmUpMs !== undefined)?.warmUpMs;
  return warmUpMs === undefined
    ? ['Measured from one second after the process started (its first seconds included).', '']
    : [
        `Each process first ran ${warmUpMs / 1000} s of the same paced load, unmeasured: its steady state, as after hours of use (the helper's first seconds, V8 still compiling, are in the helper-rss figures below).`,
        '',
      ];
}
