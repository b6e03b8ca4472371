import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flattenLeaves, foldPeerResults } from '../../../bench/lib/fold.js';

test('the newest file of each kind is folded in, and helper-rss is not mistaken for another kind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-fold-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, data: unknown, ageSeconds: number) => {
    writeFileSync(join(dir, name), JSON.stringify(data));
    const when = new Date(Date.now() - ageSeconds * 1000);
    utimesSync(join(dir, name), when, when);
  };
  write('datapath-old.json', { v: 1 }, 100);
  write('datapath-new.json', { v: 2 }, 10);
  write('helper-rss.json', { rssMiB: 80 }, 5);
  write('2026-01-01T00-00-00Z.json', { ours: true }, 1);
  write('ui.json', 'not json{', 1);
  writeFileSync(join(dir, 'ui.json'), 'not json{');
  const folded = foldPeerResults(dir);
  assert.deepEqual(
    folded.map((f) => f.kind),
    ['datapath', 'helper-rss', 'ui'],
  );
  assert.deepEqual(folded[0]!.data, { v: 2 });
  assert.equal(folded[0]!.file, 'bench/results/datapath-new.json');
  assert.deepEqual(folded[1]!.data, { rssMiB: 80 });
  assert.match(String((folded[2]!.data as { unreadable: string }).unreadable), /JSON/);
  assert.deepEqual(foldPeerResults(join(dir, 'missing')), []);
});

test('flattenLeaves names every leaf by its path', () => {
  assert.deepEqual(flattenLeaves({ a: { b: [1, { c: 'x' }] }, d: true }), [
    ['a.b[0]', 1],
    ['a.b[1].c', 'x'],
    ['d', true],
  ]);
  assert.deepEqual(flattenLeaves(3), [['(value)', 3]]);
});
