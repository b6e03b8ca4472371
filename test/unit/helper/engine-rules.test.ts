// The rules engine against a stand-in kernel: each change hands over only the entries it touches,
// and a kernel that refuses a change leaves store and kernel as they were.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RulesEngine } from '../../../main/helper/engine.js';
import { describeEntry, withEngine } from '../../support/engine-kernel.js';
import { toKernelRules } from '../../../main/helper/kernel-rules.js';
import {
  rulePatchSchema,
  ruleDraftSchema,
  type ParsedDraft,
  type ParsedPatch,
  type RuleDraft,
} from '../../../main/contract/index.js';

/** The engine takes drafts as the RPC layer parsed them. */
function parsed(drafts: RuleDraft[]): ParsedDraft[] {
  return drafts.map((draft) => {
    const result = ruleDraftSchema.parse(draft);
    assert.ok(result.ok, JSON.stringify(result));
    return result.value;
  });
}
function parsedPatch(patch: Partial<RuleDraft>): ParsedPatch {
  const result = rulePatchSchema.parse(patch);
  assert.ok(result.ok, JSON.stringify(result));
  return result.value;
}

const storedEntries = (engine: RulesEngine) => toKernelRules(engine.rules.list(), Date.now()).map(describeEntry).sort();

test('each change hands the kernel only the entries of the rules it wrote', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    await engine.addRules(
      parsed(Array.from({ length: 200 }, (_, i) => ({ action: 'block', remote: `10.0.${i >> 8}.${i & 255}` }))),
    );
    const [one] = await engine.addRules(parsed([{ action: 'block', remote: '192.0.2.1' }]));
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 1 });
    await engine.updateRule(one!.id, parsedPatch({ action: 'allow' }));
    assert.deepEqual(kernel.calls.at(-1), { removed: 1, added: 1 });
    await engine.updateRule(one!.id, parsedPatch({ enabled: false }));
    assert.deepEqual(kernel.calls.at(-1), { removed: 1, added: 0 });
    await engine.removeRules([one!.id]);
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 0 });
    await engine.addRules(parsed([{ action: 'block', remote: 'any', port: '25' }]));
    assert.deepEqual(kernel.calls.at(-1), { removed: 0, added: 2 }, '"any" is one entry per family');
    assert.deepEqual(kernel.describe(), storedEntries(engine));
  });
});

test('a change the kernel refuses leaves store and kernel as they were, and the next change goes through', async (t) => {
  await withEngine(t, async (engine, kernel) => {
    const [kept] = await engine.addRules(
      parsed([
        { action: 'block', remote: '10.0.0.0/8' },
        { action: 'allow', remote: '10.1.0.0/16' },
      ]),
    );
    const before = kernel.describe();

    kernel.failNext = true;
    await assert.rejects(
      engine.addRules(parsed([{ action: 'block', remote: '10.1.2.3' }])),
      /the kernel refused the rules.*injected kernel failure/,
    );
    assert.equal(engine.rules.count(), 2);
    assert.deepEqual(kernel.describe(), before);

    kernel.failNext = true;
    await assert.rejects(engine.updateRule(kept!.id, parsedPatch({ action: 'allow' })), /injected/);
    assert.equal(engine.rules.get(kept!.id)!.action, 'block');
    assert.deepEqual(kernel.describe(), before);

    kernel.failNext = true;
    await assert.rejects(engine.removeRules([kept!.id]), /injected/);
    assert.ok(engine.rules.get(kept!.id));
    assert.deepEqual(kernel.describe(), before);

    await engine.addRules(parsed([{ action: 'block', remote: '10.1.2.3' }]));
    await engine.removeRules([kept!.id]);
    assert.equal(engine.rules.count(), 2);
    assert.deepEqual(kernel.describe(), storedEntries(engine));
  });
});
