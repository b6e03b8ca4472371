// The cost breakdown in the report: per figure and BPF contender, what each attached program cost
// (the kernel's run-time statistics in a slice of its own) and the daemon's CPU per thousand operations.
import type { TrafficResults } from '../traffic.js';
import { programShare } from './program-share.js';

const fmtNs = (ns: number | null) => (ns === null ? 'n/a' : ns >= 100 ? ns.toFixed(0) : ns.toFixed(1));

export function costSection(traffic: TrafficResults): string[] {
  const rows = traffic.series.filter((s) => s.costs);
  if (rows.length === 0) return [];
  const labels = new Map(traffic.contenders.map((c) => [c.id, c.label]));
  const lines = [
    '## Where the time goes',
    '',
    "Per figure, for the contenders made of BPF programs: each program attached to the lane's cgroup, from the kernel's own run-time statistics (`kernel.bpf_stats_enabled` on for one extra firewall-lane slice per repetition, never during the ratio slices), and the daemon's CPU time over the ratio slices. An operation is a TCP connection or a UDP datagram sent.",
    '',
    '| figure | firewall | program (hook) | runs per operation | average ns per run | ns per operation |',
    '|---|---|---|---|---|---|',
  ];
  for (const s of rows) {
    const costs = s.costs!;
    const figure = `${s.kind}, ${s.path}`;
    const label = labels.get(s.contender) ?? s.contender;
    const programs = [...costs.programs].sort((a, b) => b.nsPerOperation - a.nsPerOperation);
    for (const p of programs)
      lines.push(
        `| ${figure} | ${label} | ${p.name} (${p.attachType}) | ${p.runsPerOperation.toFixed(2)} | ${fmtNs(p.avgNs)} | ${fmtNs(p.nsPerOperation)} |`,
      );
    const total = programs.reduce((sum, p) => sum + p.nsPerOperation, 0);
    lines.push(`| ${figure} | ${label} | **all programs** | | | **${fmtNs(total)}** |`);
    const share = programShare(s);
    if (share)
      lines.push(
        `| ${figure} | ${label} | programs' share of an operation (${(share.operationNs / 1000).toFixed(1)} µs without a firewall) | | | ${((share.programNs / share.operationNs) * 100).toFixed(1)} %: ratio ${share.ratio.toFixed(3)}x from run time alone |`,
      );
    if (costs.daemonCpuMsPerThousand !== null)
      lines.push(
        `| ${figure} | ${label} | daemon CPU | | | ${costs.daemonCpuMsPerThousand.toFixed(2)} ms per 1,000 operations |`,
      );
    for (const error of costs.errors) lines.push(`| ${figure} | ${label} | failed: ${error.slice(0, 200)} | | | |`);
  }
  lines.push('');
  return lines;
}
