// Planning in-place diffs: what changes, in which order, and when a swap is required instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelRule } from '../../../native/api.js';
import { compileRules } from '../../../native/rule-compiler.js';
import { capacityFor, planDiff, stateAfterSwap, DIFF_MAX_ENTRIES } from '../../../native/rule-diff.js';

const defaults = { global: 'allow' as const, perApp: new Map<number, 'allow' | 'block'>() };

function v4(ruleId: number, text: string, extra: Partial<KernelRule> = {}): KernelRule {
  const [addr, len] = text.split('/');
  return { ruleId, scope: 0, family: 4, addr: Uint8Array.from(addr!.split('.').map(Number)), prefixLen: len === undefined ? 32 : Number(len), portLo: 0, portHi: 65535, protocol: 'any', direction: 'both', action: 'block', ...extra };
}

function installed(rules: KernelRule[], d = defaults) {
  const compiled = compileRules(rules, d, true);
  const caps = { v4Exact: capacityFor('v4Exact', compiled.v4Exact.count), v6Exact: capacityFor('v6Exact', 0), v4Lpm: capacityFor('v4Lpm', compiled.v4Lpm.count), v6Lpm: capacityFor('v6Lpm', 0), sets: capacityFor('sets', compiled.sets.count) };
  return stateAfterSwap(compiled, caps);
}

test('upserts go most specific first, deletes least specific first, new sets before the entries using them', () => {
  const state = installed([v4(1, '10.0.0.0/8'), v4(2, '10.1.0.0/16'), v4(3, '10.1.2.0/24')]);
  const plan = planDiff(state, compileRules([v4(1, '10.0.0.0/8', { action: 'allow' }), v4(4, '10.1.2.3'), v4(5, '10.2.0.0/16')], defaults, true), true);
  assert.ok(plan);
  const summary = plan.steps.map((s) => `${s.op} ${s.map}${s.map.endsWith('Lpm') ? '/' + (s.keys.readUInt32LE(0) - 32) : ''}`);
  assert.equal(summary[0], 'upsert sets');
  const upserts = summary.filter((s) => s.startsWith('upsert') && !s.endsWith('sets'));
  assert.deepEqual(upserts, ['upsert v4Exact', 'upsert v4Lpm/16', 'upsert v4Lpm/8']);
  const deletes = summary.filter((s) => s.startsWith('delete'));
  assert.deepEqual(deletes, ['delete v4Lpm/16', 'delete v4Lpm/24']);
  assert.ok(summary.indexOf(upserts.at(-1)!) < summary.indexOf(deletes[0]!), 'every upsert precedes every delete');
});

test('an unchanged ruleset plans no steps', () => {
  const rules = [v4(1, '10.0.0.0/8'), v4(2, '10.1.2.3')];
  const plan = planDiff(installed(rules), compileRules(rules, defaults, true), true);
  assert.ok(plan);
  assert.equal(plan.steps.length, 0);
});

test('changes in two scopes, default changes, or rulesets too large to track need a swap', () => {
  const state = installed([v4(1, '10.0.0.0/8')]);
  assert.equal(planDiff(state, compileRules([v4(1, '10.0.0.0/8'), v4(2, '10.1.2.3', { scope: 7 }), v4(3, '10.1.2.4')], defaults, true), true), null);
  assert.equal(planDiff(state, compileRules([v4(1, '10.0.0.0/8')], { global: 'block', perApp: new Map() }, true), true), null);
  assert.equal(planDiff(state, compileRules([v4(1, '10.0.0.0/8')], { global: 'allow', perApp: new Map([[3, 'block']]) }, true), true), null);
  assert.equal(planDiff(null, compileRules([v4(1, '10.0.0.0/8')], defaults, true), true), null);
  const many = Array.from({ length: DIFF_MAX_ENTRIES + 1 }, (_, i) => v4(i + 1, `11.${i >> 16}.${(i >> 8) & 255}.${i & 255}`));
  assert.equal(installed(many), null);
});
