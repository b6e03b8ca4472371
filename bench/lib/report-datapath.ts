// The kernel engineer's datapath figures (bench/datapath.ts -> bench/results/datapath.json) in the
// report: a table per rule count and family, a chart of the ratios to the empty program, and the
// targets. The file is read defensively: another engineer owns its shape.
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { renderBarChart } from './svg.js';
import type { TargetCheck } from './targets.js';

interface PerPacketRow {
  rules: number;
  family: string;
  emptyNs: number;
  cachedNs: number;
  fullNs: number;
  cachedRatio: number;
  fullRatio: number;
  applyMs?: number;
  ruleMemoryBytes?: number;
}

interface DatapathFile {
  method?: string;
  date?: string;
  perPacket: PerPacketRow[];
  apply1M?: { rules: number; elapsedMs: number; ruleMemoryBytes?: number } | null;
}

function isRow(value: unknown): value is PerPacketRow {
  const row = value as Record<string, unknown>;
  return (
    !!row &&
    ['rules', 'emptyNs', 'cachedNs', 'fullNs', 'cachedRatio', 'fullRatio'].every(
      (key) => typeof row[key] === 'number',
    ) &&
    typeof row.family === 'string'
  );
}

/** The datapath file when it has the expected shape, else null (then it is shown generically). */
export function asDatapath(data: unknown): DatapathFile | null {
  const file = data as Record<string, unknown>;
  if (!file || !Array.isArray(file.perPacket) || file.perPacket.length === 0 || !file.perPacket.every(isRow))
    return null;
  return file as unknown as DatapathFile;
}

const count = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

export function datapathSection(data: DatapathFile, reportDir: string, chartPath: string): string[] {
  const rows = [...data.perPacket].sort((a, b) => a.family.localeCompare(b.family) || a.rules - b.rules);
  const chartRows = rows.flatMap((r) => [
    {
      label: `${r.family} ${count(r.rules)} rules, cached`,
      min: r.cachedRatio,
      median: r.cachedRatio,
      max: r.cachedRatio,
    },
    { label: `${r.family} ${count(r.rules)} rules, full`, min: r.fullRatio, median: r.fullRatio, max: r.fullRatio },
  ]);
  const highest = Math.max(...chartRows.map((r) => r.max), 6);
  writeFileSync(
    chartPath,
    renderBarChart({
      title: 'cgroup_skb ns/packet, ratio to the empty program (BPF_PROG_TEST_RUN)',
      axisLabel: 'ratio to an empty cgroup_skb program in the same run (median of the rounds)',
      rows: chartRows,
      scale: 'linear',
      domain: [0, Math.ceil(highest * 1.1)],
      references: [
        { value: 1.5, label: '1.5 cached' },
        { value: 6, label: '6 full' },
      ],
      format: (v) => `${v.toFixed(v < 10 ? 2 : 1)}x`,
    }),
  );
  const lines = [
    data.method ? `Method (from the file): ${data.method}.` : '',
    '',
    `![datapath ratios](${relative(reportDir, chartPath)})`,
    '',
    '| rules | family | empty program | cached path | full evaluation | apply time | rule memory |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(
      `| ${count(r.rules)} | ${r.family} | ${r.emptyNs} ns | ${r.cachedNs} ns (${r.cachedRatio.toFixed(2)}x) | ${r.fullNs} ns (${r.fullRatio.toFixed(2)}x) | ${r.applyMs !== undefined ? `${r.applyMs.toFixed(0)} ms` : 'n/a'} | ${r.ruleMemoryBytes !== undefined ? `${(r.ruleMemoryBytes / 2 ** 20).toFixed(1)} MiB` : 'n/a'} |`,
    );
  }
  if (data.apply1M)
    lines.push(
      '',
      `Applying ${count(data.apply1M.rules)} rules: ${data.apply1M.elapsedMs.toFixed(0)} ms${data.apply1M.ruleMemoryBytes ? `, ${(data.apply1M.ruleMemoryBytes / 2 ** 20).toFixed(0)} MiB of kernel memory` : ''}.`,
    );
  lines.push('');
  return lines;
}

/** Full-evaluation cost at the largest rule count against the smallest, per family. */
function flatness(data: DatapathFile, family: string): { from: PerPacketRow; to: PerPacketRow } | null {
  const rows = data.perPacket.filter((r) => r.family === family).sort((a, b) => a.rules - b.rules);
  return rows.length >= 2 && rows[0]!.rules < rows[rows.length - 1]!.rules
    ? { from: rows[0]!, to: rows[rows.length - 1]! }
    : null;
}

export function datapathTargets(data: DatapathFile): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const family of [...new Set(data.perPacket.map((r) => r.family))].sort()) {
    const span = flatness(data, family);
    const ratio = span ? span.to.fullNs / span.from.fullNs : null;
    checks.push({
      target: `Per-packet cost flat (≤ 1.2x) from ${span ? count(span.from.rules) : '10'} to ${span ? count(span.to.rules) : '1M'} rules, full evaluation (${family})`,
      measured: ratio === null ? 'not measured' : `${ratio.toFixed(2)}x (${span!.from.fullNs} → ${span!.to.fullNs} ns)`,
      met: ratio === null ? null : ratio <= 1.2,
    });
    const at10k = data.perPacket.find((r) => r.family === family && r.rules === 10_000);
    const at1M = data.perPacket.find((r) => r.family === family && r.rules === 1_000_000);
    if (at10k && at1M) {
      const flat = at1M.fullNs / at10k.fullNs;
      checks.push({
        target: `Full evaluation flat from 10k to 1M rules, ≤ 1.3x (${family})`,
        measured: `${flat.toFixed(2)}x (${at10k.fullNs} → ${at1M.fullNs} ns)`,
        met: flat <= 1.3,
      });
      checks.push({
        target: `Full evaluation ≤ 6x the empty program at 1M rules (${family})`,
        measured: `${at1M.fullRatio.toFixed(2)}x`,
        met: at1M.fullRatio <= 6,
      });
    }
    const worstCached = Math.max(...data.perPacket.filter((r) => r.family === family).map((r) => r.cachedRatio));
    checks.push({
      target: `Cached path ≤ 1.5x the empty program at any rule count (${family})`,
      measured: `worst ${worstCached.toFixed(2)}x`,
      met: worstCached <= 1.5,
    });
  }
  if (data.apply1M)
    checks.push({
      target: 'Applying 1M rules ≤ 2 s',
      measured: `${data.apply1M.elapsedMs.toFixed(0)} ms`,
      met: data.apply1M.elapsedMs <= 2000,
    });
  return checks;
}

/** Where the datapath chart goes, beside the other charts of the run. */
export function datapathChartPath(chartDir: string, stamp: string): string {
  return join(chartDir, `${stamp}-datapath.svg`);
}
