// Plain-text output for people: aligned tables, short durations, kernel features.
import { describeRule, formatPorts, formatRemote, type KernelFeature, type Rule } from '../contract/index.js';

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 90) return `${seconds}s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)}m`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86400)}d`;
}

/**
 * One line per kernel feature: its mark (✓ full form, ~ older form, ✗ missing), what it is, the
 * form it runs in here, and why.
 */
export function featureLines(features: readonly KernelFeature[]): string[] {
  return features.map((feature) => {
    const mark = !feature.available ? '✗' : feature.reduced ? '~' : '✓';
    return `${mark} ${feature.label}: ${feature.form} — ${feature.why}`;
  });
}

export function rulesTable(rules: Rule[], now = Date.now()): string {
  if (rules.length === 0) return 'No rules.';
  return table(
    ['ID', 'ACTION', 'REMOTE', 'PORT', 'PROTO', 'DIR', 'APP', 'EXPIRES', 'STATE', 'HITS', 'NOTE'],
    rules.map((rule) => [
      String(rule.id),
      rule.action,
      formatRemote(rule.remote),
      formatPorts(rule.ports),
      rule.protocol,
      rule.direction,
      rule.appId === null ? 'any' : String(rule.appId),
      rule.expiresAt === null ? 'never' : `in ${formatDuration(rule.expiresAt - now)}`,
      rule.enabled ? 'enabled' : 'disabled',
      String(rule.hits),
      rule.note,
    ]),
  );
}

export { describeRule };
