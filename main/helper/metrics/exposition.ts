// The Prometheus text exposition format (version 0.0.4), which Prometheus, VictoriaMetrics, the
// OpenTelemetry collector and Telegraf all read: a HELP and a TYPE line per family, then its
// samples. Names are checked here (a bad one is our bug, not input); label values are the only
// text from outside (app names) and are escaped, made well-formed UTF-8 and bounded in length.

export type MetricType = 'counter' | 'gauge';

export interface Sample {
  labels?: Readonly<Record<string, string>>;
  value: number | bigint;
}

export interface MetricFamily {
  /** Counters end in _total, as the format's conventions (and promtool's lint) ask. */
  name: string;
  help: string;
  type: MetricType;
  samples: readonly Sample[];
}

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Longer label values are cut (an executable path as an app's name can be long). */
export const MAX_LABEL_VALUE_CHARS = 200;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
// Other control characters are legal in the format but break the line-oriented tools people pipe it into.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000B-\u001F\u007F]/g;

/** A label value as the format writes it between quotes. */
export function escapeLabelValue(value: string): string {
  let text = value.replace(LONE_SURROGATE, '\uFFFD').replace(CONTROL, '\uFFFD');
  if (text.length > MAX_LABEL_VALUE_CHARS) {
    let cut = MAX_LABEL_VALUE_CHARS - 1;
    if (/[\uD800-\uDBFF]/.test(text[cut - 1]!)) cut--; // never split a surrogate pair
    text = text.slice(0, cut) + '\u2026';
  }
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text: backslash and newline escaped (quotes are plain there). */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Readonly<Record<string, string>> | undefined, family: string): string {
  if (!labels) return '';
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new Error(`${family}: bad label name "${name}"`);
    parts.push(`${name}="${escapeLabelValue(value)}"`);
  }
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** The families as one exposition; throws on a bad name or a label set given twice (our bugs). */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new Error(`bad metric name "${family.name}"`);
    if (seen.has(family.name)) throw new Error(`metric family ${family.name} given twice`);
    seen.add(family.name);
    if (family.type === 'counter' && !family.name.endsWith('_total'))
      throw new Error(`counter ${family.name} must end in _total`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    const series = new Set<string>();
    for (const sample of family.samples) {
      const labels = formatLabels(sample.labels, family.name);
      if (series.has(labels)) throw new Error(`${family.name}${labels} given twice`);
      series.add(labels);
      lines.push(`${family.name}${labels} ${formatValue(sample.value)}`);
    }
  }
  return lines.join('\n') + '\n';
}
