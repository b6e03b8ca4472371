// Incremental compiles and the diffs planned from them: only the keys a change touches, in a safe
// order, the same entries a full compile makes, and a swap where a diff cannot be safe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelRule } from '../../../../native/api.js';
import { RuleCompiler } from '../../../../native/compiler/compiler.js';
import {
  BUCKET_BYTES,
  BUCKET_KEY_BYTES,
  ENTRY_BYTES,
  ENTRY_MAPS,
  KEY_BYTES,
  NO_SET,
  SET_BYTES,
  type EntryMap,
} from '../../../../native/compiler/layout.js';
import { capacityFor, planDiff, swapReason, type Capacities } from '../../../../native/compiler/rule-diff.js';
import type { CompiledRules } from '../../../../native/compiler/types.js';
import { defaults, v4 } from './rule-fixtures.js';

const MAPS = ENTRY_MAPS;

function roomy(compiled: CompiledRules): Capacities {
  const capacities = {} as Capacities;
  for (const map of [...MAPS, 'v6Buckets', 'sets'] as const) capacities[map] = capacityFor(map, compiled[map].count);
  return capacities;
}

/**
 * A kernel stand-in: maps as key hex -> value, and the set array. Applies a full image or plan
 * steps, and says what each entry decides as the list of clause rule ids (inline, then set).
 */
class FakeKernel {
  maps: Record<EntryMap, Map<string, Buffer>> = {
    v4Exact: new Map(),
    v6Exact: new Map(),
    v4Lpm: new Map(),
    v6Lpm: new Map(),
    v6Prefix: new Map(),
  };
  /** v6 buckets: key hex -> bitmap. */
  buckets = new Map<string, Buffer>();
  sets = new Map<number, Buffer>();
  v6Split = 0;

  load(compiled: CompiledRules): void {
    this.v6Split = compiled.v6Split;
    this.buckets = new Map();
    for (let i = 0; i < compiled.v6Buckets.count; i++) {
      this.buckets.set(
        compiled.v6Buckets.keys.toString('hex', i * BUCKET_KEY_BYTES, (i + 1) * BUCKET_KEY_BYTES),
        compiled.v6Buckets.values.subarray(i * BUCKET_BYTES, (i + 1) * BUCKET_BYTES),
      );
    }
    for (const map of MAPS) {
      this.maps[map] = new Map();
      for (let i = 0; i < compiled[map].count; i++) {
        this.maps[map].set(
          compiled[map].keys.toString('hex', i * KEY_BYTES[map], (i + 1) * KEY_BYTES[map]),
          compiled[map].values.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES),
        );
      }
    }
    this.sets = new Map();
    for (let id = 0; id < compiled.sets.count; id++)
      this.sets.set(id, compiled.sets.values.subarray(id * SET_BYTES, (id + 1) * SET_BYTES));
  }

  apply(steps: ReturnType<typeof planDiff>['steps'], after?: () => void): void {
    for (const step of steps) {
      if (step.map === 'sets') {
        for (let i = 0; i < step.keys.length / 4; i++)
          this.sets.set(step.keys.readUInt32LE(i * 4), step.values!.subarray(i * SET_BYTES, (i + 1) * SET_BYTES));
      } else if (step.map === 'v6Buckets') {
        for (let i = 0; i < step.keys.length / BUCKET_KEY_BYTES; i++) {
          const key = step.keys.toString('hex', i * BUCKET_KEY_BYTES, (i + 1) * BUCKET_KEY_BYTES);
          if (step.op === 'delete') this.buckets.delete(key);
          else this.buckets.set(key, step.values!.subarray(i * BUCKET_BYTES, (i + 1) * BUCKET_BYTES));
          after?.();
        }
      } else {
        const size = KEY_BYTES[step.map];
        for (let i = 0; i < step.keys.length / size; i++) {
          const key = step.keys.toString('hex', i * size, (i + 1) * size);
          if (step.op === 'delete') this.maps[step.map].delete(key);
          else this.maps[step.map].set(key, step.values!.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES));
          after?.();
        }
      }
    }
  }

  /** Every entry as "map key -> rule ids in the order the kernel tries them". */
  describe(): Map<string, string> {
    const out = new Map<string, string>();
    for (const map of MAPS) {
      for (const [key, value] of this.maps[map]) {
        const ids: number[] = [];
        if (value[14] !== 0) ids.push(value.readUInt32LE(0));
        const setId = value.readUInt32LE(4);
        if (setId !== NO_SET) {
          const set = this.sets.get(setId)!;
          for (let c = 0; c < set.readUInt32LE(0); c++) ids.push(set.readUInt32LE(8 + c * 12));
        }
        out.set(`${map} ${key}`, ids.join(','));
      }
    }
    for (const [key, bitmap] of this.buckets) out.set(`v6Buckets ${key}`, bitmap.toString('hex'));
    return out;
  }
}

function fullCompile(rules: KernelRule[]): Map<string, string> {
  const kernel = new FakeKernel();
  const compiler = new RuleCompiler(true);
  compiler.update([], rules);
  kernel.load(compiler.compileAll(defaults));
  return kernel.describe();
}

test('a change compiles only the keys it touches, and ends where a full compile of the new rules does', () => {
  const base = [
    v4(1, '10.0.0.0/8'),
    v4(2, '10.1.0.0/16', { action: 'allow' }),
    v4(3, '10.1.2.3'),
    v4(4, '10.1.2.4'),
    v4(5, '11.0.0.1'),
    v4(6, '10.1.0.0/16', { protocol: 'tcp' }),
  ];
  const compiler = new RuleCompiler(true);
  const kernel = new FakeKernel();
  compiler.update([], base);
  kernel.load(compiler.compileAll(defaults));

  // One address more: one entry written, nothing else.
  const address = v4(7, '12.0.0.1');
  compiler.update([], [address]);
  let change = compiler.compileChange();
  assert.equal(change.entries.length, 1);
  kernel.apply(planDiff(change).steps);
  assert.deepEqual(kernel.describe(), fullCompile([...base, address]));

  // A prefix between 10/8 and the addresses under 10.1/16: every key under it is rewritten, the others not.
  const prefix = v4(8, '10.1.2.0/24', { action: 'allow' });
  compiler.update([], [prefix]);
  change = compiler.compileChange();
  assert.deepEqual(change.entries.map((e) => e.rank).sort(), [24, 32, 32]);
  kernel.apply(planDiff(change).steps);
  assert.deepEqual(kernel.describe(), fullCompile([...base, address, prefix]));

  // Removing rules: a key with two rules keeps one (inline again), a prefix goes; its sets are freed and reused.
  compiler.update([base[5]!, prefix, base[0]!], []);
  change = compiler.compileChange();
  kernel.apply(planDiff(change).steps);
  const rest = [base[1]!, base[2]!, base[3]!, base[4]!, address];
  assert.deepEqual(kernel.describe(), fullCompile(rest));
  assert.ok(
    change.entries.some((e) => e.value === null),
    'the /8 entry is deleted',
  );

  compiler.update([], [base[0]!, base[5]!]);
  change = compiler.compileChange();
  kernel.apply(planDiff(change).steps);
  assert.deepEqual(kernel.describe(), fullCompile([...rest, base[0]!, base[5]!]));
  // Taking rules out and in again keeps reusing freed set slots: the array does not grow.
  const spans: number[] = [];
  for (let round = 0; round < 6; round++) {
    compiler.update(round % 2 === 0 ? [base[0]!, base[5]!] : [], round % 2 === 0 ? [] : [base[0]!, base[5]!]);
    const step = compiler.compileChange();
    kernel.apply(planDiff(step).steps);
    spans.push(step.setSpan);
  }
  assert.deepEqual(kernel.describe(), fullCompile([...rest, base[0]!, base[5]!]));
  assert.ok(
    spans.every((span) => span <= spans[1]!),
    `set array span stays put: ${spans.join(' ')}`,
  );
});

test('chunks of nested prefixes added and removed: every change ends where a full compile does', () => {
  // Deterministic pseudo-random rules in a few /16s, so that prefixes of many lengths nest.
  let seed = 0x9e3779b9;
  const next = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  let id = 0;
  const randomRule = (): KernelRule => {
    const len = [8, 12, 16, 20, 24, 28, 30, 32][next() % 8]!;
    const address = `10.${next() % 4}.${next() % 8}.${next() % 256}`;
    return v4(++id, `${address}/${len}`, {
      scope: next() % 3 === 0 ? 7 : 0,
      action: next() % 2 ? 'block' : 'allow',
      protocol: next() % 4 === 0 ? 'tcp' : 'any',
    });
  };
  const compiler = new RuleCompiler(true);
  const kernel = new FakeKernel();
  let held = Array.from({ length: 50 }, randomRule);
  compiler.update([], held);
  kernel.load(compiler.compileAll(defaults));
  for (let round = 0; round < 20; round++) {
    const removed = held.filter(() => next() % 5 === 0);
    const added = Array.from({ length: 1 + (next() % 40) }, randomRule);
    compiler.update(removed, added);
    kernel.apply(planDiff(compiler.compileChange()).steps);
    held = [...held.filter((rule) => !removed.includes(rule)), ...added];
    assert.deepEqual(
      kernel.describe(),
      fullCompile(held),
      `round ${round}: ${added.length} added, ${removed.length} removed`,
    );
  }
});

test('upserts go most specific first, deletes least specific first, new sets before the entries using them', () => {
  const compiler = new RuleCompiler(true);
  const old = [v4(1, '10.0.0.0/8'), v4(2, '10.1.0.0/16'), v4(3, '10.1.2.0/24')];
  compiler.update([], old);
  compiler.compileAll(defaults);
  compiler.update(
    [old[1]!, old[2]!, old[0]!],
    [
      v4(1, '10.0.0.0/8', { action: 'allow' }),
      v4(4, '10.1.2.3'),
      v4(5, '10.2.0.0/16'),
      v4(6, '10.2.0.0/16', { protocol: 'udp' }),
    ],
  );
  const plan = planDiff(compiler.compileChange());
  const summary = plan.steps.map(
    (s) => `${s.op} ${s.map}${s.map.endsWith('Lpm') ? '/' + (s.keys.readUInt32LE(0) - 32) : ''}`,
  );
  assert.equal(summary[0], 'upsert sets');
  assert.deepEqual(summary.slice(1), [
    'upsert v4Exact',
    'upsert v4Lpm/16',
    'upsert v4Lpm/8',
    'delete v4Lpm/16',
    'delete v4Lpm/24',
  ]);
});

test('while a plan runs, a destination blocked before and after is blocked at every step', () => {
  // The fake kernel's lookup: longest present prefix in scope 0, first clause decides (all clauses match).
  const lookup = (kernel: FakeKernel, addr: string): string => {
    const bytes = addr.split('.').map(Number);
    const exact = kernel.describe().get(`v4Exact 00000000${Buffer.from(bytes).toString('hex')}`);
    if (exact !== undefined) return exact;
    for (let len = 31; len >= 0; len--) {
      const masked = Buffer.from(bytes);
      for (let b = 0; b < 4; b++) masked[b]! &= (0xff << Math.max(0, Math.min(8, 8 - (len - b * 8)))) & 0xff;
      const key = Buffer.alloc(12);
      key.writeUInt32LE(32 + len, 0);
      masked.copy(key, 8);
      const found = kernel.describe().get(`v4Lpm ${key.toString('hex')}`);
      if (found !== undefined) return found;
    }
    return '';
  };
  const a = [v4(1, '10.0.0.7'), v4(2, '10.0.0.0/24', { action: 'allow' }), v4(3, '10.0.1.0/24')];
  const b = [v4(4, '10.0.0.0/24'), v4(5, '10.0.1.0/24', { action: 'allow' }), v4(6, '10.0.0.8', { action: 'allow' })];
  const actions = new Map([...a, ...b].map((r) => [r.ruleId, r.action]));
  const blocked = (kernel: FakeKernel) => actions.get(Number(lookup(kernel, '10.0.0.7').split(',')[0])) === 'block';
  const compiler = new RuleCompiler(true);
  const kernel = new FakeKernel();
  compiler.update([], a);
  kernel.load(compiler.compileAll(defaults));
  for (const [from, to] of [
    [a, b],
    [b, a],
    [a, b],
  ] as const) {
    compiler.update(from, to);
    kernel.apply(planDiff(compiler.compileChange()).steps, () =>
      assert.ok(blocked(kernel), '10.0.0.7 let through mid-plan'),
    );
    assert.ok(blocked(kernel));
  }
});

test('a swap where a diff cannot be safe or does not fit', () => {
  const compiler = new RuleCompiler(true);
  const compiled = (() => {
    compiler.update([], [v4(1, '10.0.0.0/8')]);
    return compiler.compileAll(defaults);
  })();
  const capacities = roomy(compiled);
  compiler.update([], [v4(2, '10.1.2.3', { scope: 7 }), v4(3, '10.1.2.4')]);
  assert.match(swapReason(compiler.compileChange(), capacities, 1) ?? '', /several scopes/);
  compiler.update(
    [],
    Array.from({ length: capacities.v4Exact + 1 }, (_, i) => v4(100 + i, `11.0.${i >> 8}.${i & 255}`)),
  );
  assert.match(swapReason(compiler.compileChange(), capacities, 3) ?? '', /v4Exact is full/);
  assert.throws(() => new RuleCompiler(true).compileChange(), /compileAll first/);
});

test('bad input is refused before anything changes, naming the rule', () => {
  const compiler = new RuleCompiler(true);
  const kept = v4(1, '10.0.0.1');
  compiler.update([], [kept]);
  compiler.compileAll(defaults);
  assert.throws(
    () => compiler.update([], [v4(2, '10.0.0.2'), v4(3, '10.0.0.3', { prefixLen: 40 })]),
    /added\[1\] \(ruleId 3\).*prefixLen/,
  );
  assert.throws(
    () => compiler.update([v4(1, '10.0.0.1')], []),
    /removed\[0\] \(ruleId 1\): not among the compiled rules/,
  );
  assert.deepEqual([...compiler.rules()], [kept]);
  assert.equal(compiler.compileChange().entries.length, 0);
});

/** An IPv6 rule from groups of hex ('2001:db8:1' is 2001:db8:1::) and a length. */
function v6(ruleId: number, groups: string, prefixLen: number, extra: Partial<KernelRule> = {}): KernelRule {
  const addr = new Uint8Array(16);
  groups.split(':').forEach((group, i) => addr.set([parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff], i * 2));
  for (let bit = prefixLen; bit < 128; bit++) addr[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { ...v4(ruleId, '0.0.0.0'), family: 6, addr, prefixLen, ...extra };
}

/** The fake kernel's lookup6 as the BPF program does it: exact, then the bucket's lengths longest first, then the trie. */
function lookup6(kernel: FakeKernel, scope: number, addr: Uint8Array): string | undefined {
  const masked = (len: number) => {
    const out = Buffer.from(addr);
    for (let bit = len; bit < 128; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
    return out;
  };
  const scopeHex = Buffer.alloc(4);
  scopeHex.writeUInt32LE(scope);
  const entries = kernel.describe();
  const exact = entries.get(`v6Exact ${scopeHex.toString('hex')}${Buffer.from(addr).toString('hex')}`);
  if (exact !== undefined) return exact;
  const bucket = kernel.buckets.get(
    `${scopeHex.toString('hex')}00000000${masked(kernel.v6Split).toString('hex', 0, 8)}`,
  );
  if (bucket) {
    for (let len = 127; len >= 0; len--) {
      if ((bucket.readBigUInt64LE(len >= 64 ? 8 : 0) & (1n << BigInt(len & 63))) === 0n) continue;
      const key = Buffer.alloc(8);
      key.writeUInt32LE(scope, 0);
      key.writeUInt32LE(len, 4);
      const found = entries.get(`v6Prefix ${key.toString('hex')}${masked(len).toString('hex')}`);
      if (found !== undefined) return found;
    }
  }
  for (let len = 127; len >= 0; len--) {
    const key = Buffer.alloc(8);
    key.writeUInt32LE(32 + len, 0);
    key.writeUInt32LE(scope, 4);
    const found = entries.get(`v6Lpm ${key.toString('hex')}${masked(len).toString('hex')}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

test("v6 prefix hash: chunks across the split, scopes, /0 and /128: blocked before and after stays blocked at every step, and each change ends at the full compile's verdicts", () => {
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  // Few distinct bits, so that prefixes of many lengths nest: 2001:db8:{0,1,8000}:{0,ff}:...:{0,5}.
  const randomAddress = () =>
    `2001:db8:${['0', '1', '8000'][next() % 3]}:${['0', 'ff'][next() % 2]}:0:0:${['0', '1'][next() % 2]}:${['0', '5'][next() % 2]}`;
  let id = 0;
  const randomRule = (scope: number): KernelRule => {
    const len = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 127, 128][next() % 14]!;
    return v6(++id, randomAddress(), len, { scope, action: next() % 2 ? 'block' : 'allow' });
  };
  const probes = Array.from({ length: 48 }, () => v6(0, randomAddress(), 128).addr);
  const actions = new Map<number, string>();
  const remember = (rules: KernelRule[]) => rules.forEach((r) => actions.set(r.ruleId, r.action));
  // App 7's scope first, then the global one; no entry at all: the default (allow).
  const verdict = (kernel: FakeKernel, addr: Uint8Array) => {
    for (const scope of [7, 0]) {
      const found = lookup6(kernel, scope, addr);
      if (found !== undefined && found !== '') return actions.get(Number(found.split(',')[0]))!;
    }
    return 'allow';
  };
  const compiler = new RuleCompiler(true);
  const kernel = new FakeKernel();
  // Many /48s of scope 0 elsewhere put the split at 40: /0-/32 in the trie, longer ones hashed.
  const filler = Array.from({ length: 400 }, (_, i) =>
    v6(++id, `2400:${(i + 1).toString(16)}:${(i * 3).toString(16)}`, 48, { action: 'allow' }),
  );
  let held = [...filler, ...Array.from({ length: 40 }, () => randomRule(next() % 3 === 0 ? 7 : 0))];
  remember(held);
  compiler.update([], held);
  const compiled = compiler.compileAll(defaults);
  kernel.load(compiled);
  assert.ok(
    compiled.v6Split > 8 && compiled.v6Split <= 48 && compiled.v6Lpm.count > 0 && compiled.v6Prefix.count > 0,
    `prefixes on both sides of split ${compiled.v6Split}`,
  );
  for (let round = 0; round < 30; round++) {
    // One scope per change (a change across scopes is a swap).
    const scope = round % 3 === 2 ? 7 : 0;
    const removed = held.filter((r) => r.scope === scope && !filler.includes(r) && next() % 4 === 0);
    const added = Array.from({ length: 1 + (next() % 12) }, () => randomRule(scope));
    remember(added);
    const before = probes.map((addr) => verdict(kernel, addr));
    held = [...held.filter((rule) => !removed.includes(rule)), ...added];
    const expected = (() => {
      const full = new FakeKernel();
      const fresh = new RuleCompiler(true);
      fresh.update([], held);
      full.load(fresh.compileAll(defaults));
      return probes.map((addr) => verdict(full, addr));
    })();
    compiler.update(removed, added);
    const change = compiler.compileChange();
    kernel.apply(planDiff(change).steps, () => {
      probes.forEach((addr, i) => {
        if (before[i] === 'block' && expected[i] === 'block')
          assert.equal(verdict(kernel, addr), 'block', `round ${round}: probe ${i} let through mid-plan`);
      });
    });
    assert.deepEqual(
      probes.map((addr) => verdict(kernel, addr)),
      expected,
      `round ${round}: verdicts after the change`,
    );
    // Every bucket names exactly the lengths with entries under it.
    for (const [key, bitmap] of kernel.buckets) {
      const scopeHex = key.slice(0, 8);
      const top = key.slice(16);
      const present = new Set<number>();
      for (const entry of kernel.maps.v6Prefix.keys()) {
        const len = Buffer.from(entry.slice(8, 16), 'hex').readUInt32LE(0);
        const masked = Buffer.from(entry.slice(16, 32), 'hex');
        for (let bit = kernel.v6Split; bit < 64; bit++) masked[bit >> 3]! &= ~(0x80 >> (bit & 7));
        if (entry.startsWith(scopeHex) && masked.toString('hex') === top) present.add(len);
      }
      const named = new Set<number>();
      for (let len = 0; len < 128; len++)
        if ((bitmap.readBigUInt64LE(len >= 64 ? 8 : 0) & (1n << BigInt(len & 63))) !== 0n) named.add(len);
      assert.deepEqual(named, present, `round ${round}: bucket ${key}`);
    }
  }
});

test('v6 buckets: lengths gained before the entries are written, lost after the deletes', () => {
  const compiler = new RuleCompiler(true);
  const filler = Array.from({ length: 100 }, (_, i) => v6(1000 + i, `2400:${(i + 1).toString(16)}`, 32));
  const old = [...filler, v6(1, '2001:db8', 32), v6(2, '2001:db8:1', 48)];
  compiler.update([], old);
  assert.equal(compiler.compileAll(defaults).v6Split, 32);
  compiler.update([old[101]!], [v6(3, '2001:db8:1:2', 64), v6(1, '2001:db8', 32, { action: 'allow' })]);
  const plan = planDiff(compiler.compileChange());
  const summary = plan.steps.map((s) => `${s.op} ${s.map}${s.map === 'v6Prefix' ? '/' + s.keys.readUInt32LE(4) : ''}`);
  assert.deepEqual(summary, [
    'upsert sets',
    'upsert v6Buckets',
    'upsert v6Prefix/64',
    'upsert v6Prefix/32',
    'delete v6Prefix/48',
    'upsert v6Buckets',
  ]);
  // The first bucket write names 32, 48 and 64 (old and new); the last only 32 and 64.
  assert.equal(plan.steps[1]!.values!.readBigUInt64LE(0), (1n << 32n) | (1n << 48n));
  assert.equal(plan.steps[1]!.values!.readBigUInt64LE(8), 1n << 0n);
  assert.equal(plan.steps[5]!.values!.readBigUInt64LE(0), 1n << 32n);
  assert.equal(plan.steps[5]!.values!.readBigUInt64LE(8), 1n << 0n);
});

test('a bulk first load (repeated keys, scopes, runs sharing long prefixes) ends where the same rules added in changes do', () => {
  let seed = 0x51ed270b;
  const next = () => (seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  // Scopes differing in their high half too; most addresses in one /16 (v4) or one /32 (v6), so
  // the sort's runs go past the first digits; short prefixes so that keys nest and repeat.
  const scopes = [0, 0, 0, 7, 0x10007];
  let id = 0;
  const rule4 = (): KernelRule => {
    const len = [8, 16, 20, 24, 28, 32, 32, 32][next() % 8]!;
    const address =
      next() % 4 === 0
        ? `${11 + (next() % 200)}.${next() % 256}.${next() % 256}.${next() % 256}`
        : `10.1.${next() % 64}.${next() % 256}`;
    const masked = address.split('.').map(Number);
    for (let bit = len; bit < 32; bit++) masked[bit >> 3]! &= ~(0x80 >> (bit & 7));
    return v4(++id, `${masked.join('.')}/${len}`, {
      scope: scopes[next() % 5]!,
      action: next() % 3 ? 'block' : 'allow',
      protocol: next() % 5 === 0 ? 'udp' : 'any',
    });
  };
  const rule6 = (): KernelRule => {
    const len = [16, 32, 40, 48, 56, 64, 96, 128, 128, 128][next() % 10]!;
    const groups =
      next() % 4 === 0
        ? `${(0x2000 + (next() % 0x1000)).toString(16)}:${(next() % 0x10000).toString(16)}:${(next() % 16).toString(16)}`
        : `2001:db8:${(next() % 8).toString(16)}:${(next() % 4).toString(16)}:0:0:0:${(next() % 512).toString(16)}`;
    return v6(++id, groups, len, { scope: scopes[next() % 5]!, action: next() % 3 ? 'block' : 'allow' });
  };
  const rules = Array.from({ length: 40000 }, (_, i) => (i % 2 ? rule6() : rule4()));
  const bulk = new RuleCompiler(true);
  bulk.update([], rules);
  const bulkKernel = new FakeKernel();
  bulkKernel.load(bulk.compileAll(defaults));

  // The same rules through the key index: a first compile of a few, then changes of a thousand.
  const stepwise = new RuleCompiler(true);
  const kernel = new FakeKernel();
  stepwise.update([], rules.slice(0, 10));
  kernel.load(stepwise.compileAll(defaults));
  for (let from = 10; from < rules.length; from += 1000) {
    stepwise.update([], rules.slice(from, from + 1000));
    kernel.apply(planDiff(stepwise.compileChange()).steps);
  }
  assert.deepEqual(bulkKernel.describe(), kernel.describe());
  assert.deepEqual(bulk.entryCounts(), stepwise.entryCounts());

  // The bulk-loaded compiler takes changes like any other (its key index and bucket counts are made then).
  const removed = rules.filter((_, i) => i % 7 === 0);
  for (const compiler of [bulk, stepwise]) compiler.update(removed, []);
  bulkKernel.apply(planDiff(bulk.compileChange()).steps);
  kernel.apply(planDiff(stepwise.compileChange()).steps);
  assert.deepEqual(bulkKernel.describe(), kernel.describe());
  assert.deepEqual(bulkKernel.describe(), fullCompile(rules.filter((_, i) => i % 7 !== 0)));
});

test('a change of most of the ruleset rebuilds the tables and asks for a full compile that ends where a fresh one does', () => {
  const hand = [v4(1, '10.0.0.0/8'), v4(2, '10.1.2.3', { action: 'allow' }), v6(3, '2001:db8::', 32)];
  const list = Array.from({ length: 20000 }, (_, i) =>
    v4(100 + i, `10.${(i >> 8) & 255}.${i & 255}.${i % 2 ? 7 : 9}`, { scope: i % 5 === 0 ? 4 : 0 }),
  );
  const compiler = new RuleCompiler(true);
  const kernel = new FakeKernel();
  compiler.update([], hand);
  kernel.load(compiler.compileAll(defaults));
  assert.equal(compiler.needsFullCompile, false);

  compiler.update([], list);
  assert.equal(compiler.needsFullCompile, true, 'a list far larger than what is held is a bulk load');
  assert.throws(() => compiler.compileChange(), /compileAll first/);
  assert.equal(compiler.ruleCount, hand.length + list.length);
  kernel.load(compiler.compileAll(defaults));
  assert.deepEqual(kernel.describe(), fullCompile([...hand, ...list]));

  // A small change after the rebuild goes in place again.
  const extra = v4(50, '192.0.2.1');
  compiler.update([], [extra]);
  assert.equal(compiler.needsFullCompile, false);
  kernel.apply(planDiff(compiler.compileChange()).steps);
  assert.deepEqual(kernel.describe(), fullCompile([...hand, ...list, extra]));

  // The list goes again: a rebuild from what remains. A rule never given is refused, nothing changed.
  assert.throws(() => compiler.update([...list, v4(9, '1.2.3.4')], []), /removed\[20000\] \(ruleId 9\): not among/);
  assert.equal(compiler.ruleCount, hand.length + list.length + 1);
  compiler.update(list, []);
  assert.equal(compiler.needsFullCompile, true);
  assert.equal(compiler.ruleCount, hand.length + 1);
  kernel.load(compiler.compileAll(defaults));
  assert.deepEqual(kernel.describe(), fullCompile([...hand, extra]));
});
