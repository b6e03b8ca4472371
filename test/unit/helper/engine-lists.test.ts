// Lists in the rules engine (real SQLite, a stand-in kernel): a list reaches the kernel in one change,
// an update of its entries as a diff (kept entries keep their ids and kernel rules), a toggle all at
// once; a refused change leaves the store as it was; lists are read back whole after a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RulesEngine } from '../../../main/helper/engine.js';
import {
  addEntries,
  enableList,
  replaceEntries,
  targetList,
  type ListTarget,
} from '../../../main/helper/lists/list-entries.js';
import { decodeIdRuns, encodeIdRuns } from '../../../main/helper/store/lists-store.js';
import { describeEntry, withEngine } from '../../support/engine-kernel.js';

const target = (name: string, extra: Partial<ListTarget> = {}): ListTarget => ({
  name,
  kind: 'import',
  source: `${name}.txt`,
  action: 'block',
  app: null,
  direction: 'both',
  note: '',
  ...extra,
});

const addresses = (from: number, count: number) =>
  Array.from(
    { length: count },
    (_, i) => `10.${((from + i) >> 16) & 255}.${((from + i) >> 8) & 255}.${(from + i) & 255}`,
  );

function importInto(engine: RulesEngine, name: string, entries: string[], extra: Partial<ListTarget> = {}) {
  return engine.transaction((now) => addEntries(engine, targetList(engine, target(name, extra), now), entries, now));
}

test('id runs: ascending ids packed as (first, count) pairs and back', () => {
  const ids = Uint32Array.from([5, 6, 7, 10, 12, 13, 4_000_000_000]);
  const blob = encodeIdRuns(ids);
  assert.equal(blob.length, 4 * 8);
  assert.deepEqual(decodeIdRuns(blob), ids);
  assert.deepEqual(decodeIdRuns(encodeIdRuns(new Uint32Array(0))), new Uint32Array(0));
});

test('a list reaches the kernel in one change; its entry ids never meet a rule id', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    const written = await importInto(engine, 'big', [...addresses(0, 5000), '2001:db8::/48', 'ads.example.com']);
    assert.equal(written.added, 5002);
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 5001 }, 'the domain waits for DNS answers');
    const list = engine.lists.byName('big')!;
    const domainRule = engine.domainRules().find((r) => r.remote.kind === 'domain')!;
    assert.equal(domainRule.id, list.ids[5001]);
    // Hand-made rules continue after the ids the list took.
    const [after] = await engine.addRules([
      {
        action: 'block',
        app: null,
        remote: { kind: 'any' },
        ports: { from: 22, to: 22 },
        protocol: 'tcp',
        direction: 'both',
        expiry: { at: null },
        note: '',
        enabled: true,
      },
    ]);
    assert.ok(after!.id > list.ids[list.ids.length - 1]!);
    const again = await importInto(engine, 'big', addresses(4990, 20));
    assert.deepEqual([again.added, again.alreadyPresent], [10, 10]);
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 10 });
  });
});

test('an update is a diff: kept entries keep their ids and kernel rules; toggling moves all at once', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    await importInto(engine, 'feed', addresses(0, 1000));
    const before = engine.lists.byName('feed')!;
    const kept = [...kernel.entries].find((e) => e.ruleId === before.ids[500])!;
    const next = [...addresses(10, 990), ...addresses(5000, 10)]; // 10 gone, 10 new
    const written = await engine.transaction((now) => replaceEntries(engine, before, next, now));
    assert.deepEqual([written.added, written.removed, written.alreadyPresent], [10, 10, 990]);
    assert.deepEqual(kernel.calls.at(-1), { removed: 10, added: 10 });
    const after = engine.lists.byName('feed')!;
    assert.equal(after.ids[490], before.ids[500], 'a kept entry keeps its id');
    assert.ok(kernel.entries.has(kept), 'and its kernel rule');
    await engine.transaction((now) => engine.lists.change(after.id, { enabled: false }, now));
    assert.deepEqual(kernel.calls.at(-1), { removed: 1000, added: 0 });
    await engine.transaction((now) => enableList(engine, engine.lists.get(after.id)!, now));
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 1000 });
    await engine.transaction(() => engine.lists.remove(after.id));
    assert.equal(kernel.entries.size, 0);
  });
});

test('an enabled allow list takes new entries for review only; enabling accepts them', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    const first = await importInto(engine, 'open', addresses(0, 3), { action: 'allow' });
    assert.equal(first.list.enabled, false, 'an allow list arrives disabled');
    assert.equal(kernel.entries.size, 0);
    let list = await engine.transaction((now) => enableList(engine, first.list, now));
    assert.equal(kernel.entries.size, 3);
    const more = await importInto(engine, 'open', addresses(2, 3), { action: 'allow' });
    assert.deepEqual([more.added, more.alreadyPresent, more.list.pending.length], [2, 1, 2]);
    assert.equal(kernel.entries.size, 3, 'what waits for review is not enforced');
    list = await engine.transaction((now) => enableList(engine, engine.lists.get(list.id)!, now));
    assert.deepEqual([list.remotes.length, list.pending.length, kernel.entries.size], [5, 0, 5]);
  });
});

test('a refused kernel change leaves the list as it was; a restart reads every list back whole', async (t) => {
  await withEngine(t, async (engine, kernel, reopen) => {
    await importInto(engine, 'kept', addresses(0, 300));
    kernel.failNext = true;
    await assert.rejects(importInto(engine, 'kept', addresses(300, 50)), /injected kernel failure/);
    assert.equal(engine.lists.byName('kept')!.remotes.length, 300);
    const text = kernel.describe();
    const restarted = await reopen();
    const list = restarted.lists.byName('kept')!;
    assert.equal(list.remotes.length, 300);
    assert.deepEqual(kernel.describe(), text, 'the same kernel rules, from the store');
    assert.deepEqual([...kernel.entries].map(describeEntry).length, 300);
  });
});
