// A small SVG chart writer for the report: horizontal bars (the median) with min-max whiskers, on a
// linear or logarithmic axis, with reference lines (baseline 1.0x, targets). Plain strings, no library.

export interface BarRow {
  label: string;
  min: number;
  median: number;
  max: number;
}

export interface ReferenceLine {
  value: number;
  label: string;
}

export interface BarChart {
  title: string;
  axisLabel: string;
  rows: BarRow[];
  scale: 'linear' | 'log';
  /** Axis range; values outside are clamped to the edge. */
  domain: [number, number];
  references?: ReferenceLine[];
  /** How a value is printed beside its bar. */
  format?: (value: number) => string;
}

const LABEL_WIDTH = 210;
const PLOT_WIDTH = 460;
const VALUE_WIDTH = 90;
const ROW_HEIGHT = 26;
const TOP = 40;
const BOTTOM = 46;

function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!,
  );
}

function ticksFor(scale: 'linear' | 'log', [lo, hi]: [number, number]): number[] {
  if (scale === 'log') {
    const ticks: number[] = [];
    for (let exponent = Math.floor(Math.log10(lo)); exponent <= Math.ceil(Math.log10(hi)); exponent++) {
      for (const mantissa of [1, 2, 5]) {
        const value = mantissa * 10 ** exponent;
        if (value >= lo * 0.999 && value <= hi * 1.001) ticks.push(value);
      }
    }
    return ticks;
  }
  const step = 10 ** Math.floor(Math.log10((hi - lo) / 4));
  const niceStep = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= 6) ?? step * 10;
  const ticks: number[] = [];
  for (let value = Math.ceil(lo / niceStep) * niceStep; value <= hi + 1e-9; value += niceStep)
    ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

export function renderBarChart(chart: BarChart): string {
  const [lo, hi] = chart.domain;
  if (!(hi > lo) || (chart.scale === 'log' && lo <= 0))
    throw new Error(`bad chart domain [${lo}, ${hi}] for a ${chart.scale} axis`);
  const format = chart.format ?? ((v: number) => v.toPrecision(3));
  const position = (value: number): number => {
    const clamped = Math.min(hi, Math.max(lo, value));
    const fraction = chart.scale === 'log' ? Math.log(clamped / lo) / Math.log(hi / lo) : (clamped - lo) / (hi - lo);
    return LABEL_WIDTH + fraction * PLOT_WIDTH;
  };
  const height = TOP + chart.rows.length * ROW_HEIGHT + BOTTOM;
  const width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  const plotBottom = TOP + chart.rows.length * ROW_HEIGHT;
  for (const tick of ticksFor(chart.scale, chart.domain)) {
    const x = position(tick).toFixed(1);
    parts.push(`<line x1="${x}" y1="${TOP - 4}" x2="${x}" y2="${plotBottom}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${x}" y="${plotBottom + 14}" text-anchor="middle" fill="#555">${escapeXml(format(tick))}</text>`,
    );
  }
  chart.rows.forEach((row, i) => {
    const y = TOP + i * ROW_HEIGHT;
    const middle = y + ROW_HEIGHT / 2;
    const start = position(chart.scale === 'log' ? lo : Math.max(lo, 0));
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${middle + 4}" text-anchor="end">${escapeXml(row.label)}</text>`);
    parts.push(
      `<rect x="${start.toFixed(1)}" y="${y + 5}" width="${Math.max(0, position(row.median) - start).toFixed(1)}" height="${ROW_HEIGHT - 10}" fill="#4a7ab0"/>`,
    );
    const [x1, x2] = [position(row.min).toFixed(1), position(row.max).toFixed(1)];
    parts.push(`<line x1="${x1}" y1="${middle}" x2="${x2}" y2="${middle}" stroke="#222"/>`);
    parts.push(`<line x1="${x1}" y1="${middle - 5}" x2="${x1}" y2="${middle + 5}" stroke="#222"/>`);
    parts.push(`<line x1="${x2}" y1="${middle - 5}" x2="${x2}" y2="${middle + 5}" stroke="#222"/>`);
    parts.push(`<text x="${LABEL_WIDTH + PLOT_WIDTH + 6}" y="${middle + 4}">${escapeXml(format(row.median))}</text>`);
  });
  for (const reference of chart.references ?? []) {
    const x = position(reference.value).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${TOP - 4}" x2="${x}" y2="${plotBottom}" stroke="#c0392b" stroke-dasharray="4 3"/>`,
    );
    parts.push(
      `<text x="${x}" y="${TOP - 8}" text-anchor="middle" fill="#c0392b">${escapeXml(reference.label)}</text>`,
    );
  }
  parts.push(
    `<text x="${LABEL_WIDTH + PLOT_WIDTH / 2}" y="${height - 10}" text-anchor="middle" fill="#333">${escapeXml(chart.axisLabel)}</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
