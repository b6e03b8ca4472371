import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderBarChart } from '../../../bench/lib/svg.js';

const rows = [
  { label: 'no firewall', min: 0.95, median: 1, max: 1.05 },
  { label: 'OpenSnitch <daemon>', min: 0.02, median: 0.03, max: 0.05 },
];

test('a log-scale chart draws one bar per row, scaled, with escaped labels', () => {
  const svg = renderBarChart({
    title: 'TCP & UDP',
    axisLabel: 'ratio',
    rows,
    scale: 'log',
    domain: [0.01, 2],
    references: [{ value: 1, label: '1x' }],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /TCP &amp; UDP/);
  assert.match(svg, /OpenSnitch &lt;daemon&gt;/);
  const widths = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)" height/g)].map((m) => Number(m[1]));
  assert.equal(widths.length, 2);
  // On a log axis from 0.01 to 2, a median of 1 lies at log(100)/log(200) of the plot, 0.03 at log(3)/log(200).
  assert.ok(Math.abs(widths[0]! / widths[1]! - Math.log(100) / Math.log(3)) < 0.01, `bar widths ${widths}`);
  assert.match(svg, /stroke-dasharray/);
});

test('values outside the domain are clamped, and a bad domain is refused', () => {
  const svg = renderBarChart({
    title: 't',
    axisLabel: 'a',
    rows: [{ label: 'x', min: 0, median: 50, max: 100 }],
    scale: 'linear',
    domain: [0, 10],
  });
  const width = Number(/<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"/.exec(svg)?.[1]);
  assert.ok(width > 459 && width <= 460, `clamped width ${width}`);
  assert.throws(
    () => renderBarChart({ title: 't', axisLabel: 'a', rows, scale: 'log', domain: [0, 2] }),
    /bad chart domain/,
  );
  assert.throws(
    () => renderBarChart({ title: 't', axisLabel: 'a', rows, scale: 'linear', domain: [2, 2] }),
    /bad chart domain/,
  );
});
