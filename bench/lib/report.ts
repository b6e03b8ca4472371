// bench/REPORT.md from one results file: the machine, the method, the targets, one chart and one
// table per traffic figure, the peers' facts, and the other benchmarks' outputs folded in.
import { writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { TrafficKind, TrafficSeries } from '../traffic.js';
import { flattenLeaves } from './fold.js';
import { keptApart, type BenchResults } from './results.js';
import type { Summary } from './stats.js';
import { renderBarChart } from './svg.js';
import { evaluateTargets } from './targets.js';
import { controlPlaneSection } from './report-control-plane.js';
import { costSection } from './report-costs.js';
import { asDatapath, datapathChartPath, datapathSection, datapathTargets } from './report-datapath.js';

const KIND_TITLES: Record<TrafficKind, string> = {
  'tcp-connect': 'TCP connect+close per second',
  'udp-64': 'UDP 64-byte datagrams per second (unreplied, delivered)',
};

function fmtRate(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)}k` : value.toFixed(0);
}

function fmtRatio(value: number): string {
  return value >= 10 ? `${value.toFixed(0)}x` : value >= 0.1 ? `${value.toFixed(2)}x` : `${value.toFixed(3)}x`;
}

function range(summary: Summary | null, format: (v: number) => string): string {
  if (!summary) return 'n/a';
  return `${format(summary.median)} (${format(summary.min)} – ${format(summary.max)})`;
}

/** Charts sit beside the results JSON: bench/results/ for a full run, the smoke or partial run's directory otherwise. */
function chartDir(results: BenchResults, reportDir: string): string {
  return keptApart(results) ? reportDir : join(reportDir, 'results');
}

function trafficSection(results: BenchResults, reportDir: string, stamp: string): string[] {
  const { traffic } = results;
  const labels = new Map(traffic.contenders.map((c) => [c.id, c.label]));
  const lines: string[] = [];
  for (const path of traffic.plan.paths) {
    for (const kind of traffic.plan.kinds) {
      const rows = traffic.series.filter((s) => s.path === path && s.kind === kind);
      const title = `${KIND_TITLES[kind]}, ${path === 'loopback' ? 'loopback in the client namespace' : 'veth to the server namespace'}`;
      lines.push(`### ${title}`, '');
      const chartRows = rows
        .filter((s): s is TrafficSeries & { ratio: Summary } => s.ratio !== null)
        .map((s) => ({ label: labels.get(s.contender) ?? s.contender, ...s.ratio }));
      if (chartRows.length > 0) {
        const svgName = `${stamp}-${kind}-${path}.svg`;
        const svgPath = join(chartDir(results, reportDir), svgName);
        const lowest = Math.min(...chartRows.map((r) => r.min), 0.5);
        writeFileSync(
          svgPath,
          renderBarChart({
            title,
            axisLabel: 'ratio to the no-firewall lane in the same slice (bar: median, whisker: min–max; log scale)',
            rows: chartRows,
            scale: 'log',
            domain: [Math.max(0.001, 10 ** Math.floor(Math.log10(lowest))), 2],
            references: [
              { value: 1, label: 'no firewall' },
              ...(kind === 'tcp-connect' ? [{ value: 0.9, label: '0.9' }] : []),
            ],
            format: fmtRatio,
          }),
        );
        lines.push(`![${title}](${relative(reportDir, svgPath)})`, '');
      }
      lines.push(
        '| firewall | with it, per second | baseline lane, same slices | ratio to no firewall | pairs | failed runs |',
        '|---|---|---|---|---|---|',
      );
      for (const s of rows) {
        lines.push(
          `| ${labels.get(s.contender) ?? s.contender} | ${range(s.rate, fmtRate)} | ${range(s.baselineRate, fmtRate)} | ${range(s.ratio, fmtRatio)} | ${s.ratio?.n ?? 0} | ${s.errors.length} |`,
        );
      }
      lines.push('', 'Each cell: median (min – max).');
      lines.push('');
    }
  }
  return lines;
}

function peersSection(results: BenchResults): string[] {
  const lines = ['## The peers as they ran', ''];
  for (const contender of results.traffic.contenders) {
    const facts = Object.entries(contender.facts).filter(([key]) => key !== 'config' && key !== 'monitorLog');
    if (facts.length === 0) continue;
    lines.push(
      `- **${contender.label}**: ${facts.map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`).join('; ')}`,
    );
    const monitorLog = contender.facts.monitorLog;
    if (Array.isArray(monitorLog) && monitorLog.length > 0)
      lines.push(`  - its log: ${monitorLog.map((l) => `\`${String(l)}\``).join(', ')}`);
    const config = contender.facts.config;
    if (config) lines.push(`  - its configuration: \`${JSON.stringify(config)}\``);
  }
  lines.push('');
  return lines;
}

function foldedSection(results: BenchResults, reportDir: string, stamp: string): string[] {
  const lines = ['## Other benchmarks, folded in', ''];
  if (results.folded.length === 0) {
    lines.push(
      'No datapath, events, helper-RSS or UI results were found in bench/results/ at the time of this run.',
      '',
    );
    return lines;
  }
  for (const folded of results.folded) {
    lines.push(`### ${folded.kind} (\`${folded.file}\`, written ${folded.modifiedAt})`, '');
    const datapath = folded.kind === 'datapath' ? asDatapath(folded.data) : null;
    if (datapath) {
      lines.push(...datapathSection(datapath, reportDir, datapathChartPath(chartDir(results, reportDir), stamp)));
      continue;
    }
    lines.push('| measure | value |', '|---|---|');
    for (const [key, value] of flattenLeaves(folded.data).slice(0, 80)) {
      lines.push(`| ${key} | ${typeof value === 'number' ? Number(value.toPrecision(4)) : String(value)} |`);
    }
    lines.push('');
  }
  return lines;
}

function failuresSection(results: BenchResults): string[] {
  const failures = [
    ...results.traffic.series.flatMap((s) => s.errors.map((e) => `${s.contender}, ${s.path}, ${s.kind}: ${e}`)),
    ...(results.controlPlane?.ruleChange ?? []).flatMap((f) => f.errors.map((e) => `rule change, ${f.firewall}: ${e}`)),
    ...(results.controlPlane?.import ?? []).filter((f) => f.error).map((f) => `import, ${f.firewall}: ${f.error}`),
    ...(results.controlPlane?.usage ?? [])
      .filter((f) => f.error)
      .map((f) => `process usage, ${f.firewall}: ${f.error}`),
  ];
  if (failures.length === 0) return [];
  const shown = failures.slice(0, 30).map((f) => `- ${f.replace(/\s+/g, ' ').slice(0, 300)}`);
  return [
    '## What failed in this run',
    '',
    ...shown,
    ...(failures.length > 30 ? [`- … and ${failures.length - 30} more (see the results file)`] : []),
    '',
  ];
}

export function writeReport(results: BenchResults, reportPath: string, jsonPath: string): void {
  const reportDir = dirname(reportPath);
  const stamp = basename(jsonPath, '.json');
  const { machine, traffic } = results;
  const lines: string[] = [
    '# Portcullis benchmarks',
    '',
    results.smoke
      ? '**Smoke run** (tiny sizes, to prove the pipeline works): these figures mean nothing.'
      : results.partial
        ? `**Partial run** (\`BENCH_ONLY=${results.partial.join(',')}\`): the traffic suite at full size, for these contenders only.`
        : '',
    `Run ${results.startedAt} – ${results.finishedAt}; raw results: \`${relative(reportDir, jsonPath)}\`. Made by \`npm run bench\`.`,
    '',
    `**Machine**: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; kernel ${machine.kernel}; node ${machine.node}. ` +
      `Load average at start ${machine.loadAtStart.join(' / ')} (a shared machine: only ratios within one run mean anything). ` +
      `Traffic processes: ${machine.pinning ?? 'not pinned'}.`,
    '',
    '## Method',
    '',
    `- Three network namespaces made for the run: a server namespace and two identical client lanes joined to it by veth pairs, each lane with a test cgroup for its load generator. The firewall under test is installed on the firewall lane only (netfilter rules and OpenSnitch in its namespace, Portcullis on its cgroup); the baseline lane never has one. Loopback = generator and sink both in the lane's namespace; veth = sink in the server namespace.`,
    `- "no firewall" is also run as a contender: the firewall lane against the baseline lane with nothing installed, an A/A check of how equal the lanes are and how noisy the machine was. Its min–max spread is the noise floor of a single pair: compare medians, and read differences smaller than that spread as noise.`,
    `- Load generator: \`bench/loadgen.c\`, compiled at bench time; one client process. TCP: blocking connect, then close with SO_LINGER 0 (an RST, so no TIME_WAIT). UDP: one connected socket sending 64-byte datagrams that are never answered; the rate is what the sink received, over its own first-to-last packet window.`,
    `- Each firewall is installed ${traffic.plan.repetitions} time(s), in an order that rotates every repetition; each time, every figure is measured in ${traffic.plan.slices} pairs of ${traffic.plan.bounds.durationMs} ms slices (at most ${traffic.plan.bounds.maxCount} operations each), one slice on each lane, in ABBA order. A ratio is firewall lane / baseline lane within one pair; min / median / max over all pairs.`,
    `- Blocked addresses are taken from 240.0.0.0/4, so no benchmark packet matches a rule: every packet pays for a full search (the linear chain for iptables).`,
    '',
  ];
  const datapath = asDatapath(results.folded.find((f) => f.kind === 'datapath')?.data);
  const targets = [...evaluateTargets(results), ...(datapath ? datapathTargets(datapath) : [])];
  if (targets.length > 0) {
    lines.push('## Targets', '', '| target | measured | met |', '|---|---|---|');
    for (const target of targets)
      lines.push(
        `| ${target.target} | ${target.measured} | ${target.met === null ? 'n/a' : target.met ? 'yes' : '**no**'} |`,
      );
    lines.push('');
  }
  lines.push(
    '## Real traffic',
    '',
    ...trafficSection(results, reportDir, stamp),
    ...costSection(traffic),
    ...controlPlaneSection(results.controlPlane),
    ...peersSection(results),
    ...foldedSection(results, reportDir, stamp),
  );
  lines.push(...failuresSection(results));
  writeFileSync(reportPath, `${lines.filter((line, i, all) => !(line === '' && all[i - 1] === '')).join('\n')}\n`);
}
