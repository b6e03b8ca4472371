import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairedRatios, percentile, rotation, summarize } from '../../../bench/lib/stats.js';

test('percentile interpolates between ranks and handles the ends', () => {
  const values = [40, 10, 30, 20];
  assert.equal(percentile(values, 0), 10);
  assert.equal(percentile(values, 100), 40);
  assert.equal(percentile(values, 50), 25);
  assert.ok(Math.abs(percentile(values, 99) - 39.7) < 1e-9);
  assert.equal(percentile([7], 99), 7);
});

test('percentile refuses an empty list and an out-of-range p', () => {
  assert.throws(() => percentile([], 50), /no values/);
  assert.throws(() => percentile([1], 101), /0\.\.100/);
  assert.throws(() => percentile([1], Number.NaN), /0\.\.100/);
});

test('summarize gives n, min, median and max', () => {
  assert.deepEqual(summarize([3, 1, 2]), { n: 3, min: 1, median: 2, max: 3 });
  assert.throws(() => summarize([]), /no values/);
});

test('paired ratios divide within each repetition and need equal lengths', () => {
  assert.deepEqual(pairedRatios([2, 9], [4, 3]), [0.5, 3]);
  assert.throws(() => pairedRatios([1], [1, 2]), /equal lengths/);
});

test('rotation puts every configuration first once per cycle', () => {
  const items = ['a', 'b', 'c'];
  assert.deepEqual(rotation(items, 0), ['a', 'b', 'c']);
  assert.deepEqual(rotation(items, 1), ['b', 'c', 'a']);
  assert.deepEqual(rotation(items, 4), ['b', 'c', 'a']);
  assert.deepEqual(new Set([0, 1, 2].map((r) => rotation(items, r)[0])), new Set(items));
  assert.deepEqual(rotation([], 3), []);
});
