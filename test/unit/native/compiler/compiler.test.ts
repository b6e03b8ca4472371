// The rule compiler without a kernel: prefix inheritance, precedence order inside clause sets,
// deduplication (a million exact blocks share one set), validation messages, and 1M rules compiled
// (how fast is bench/datapath.ts's to measure).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompilableRule, KernelRule } from '../../../../native/api.js';
import { compileRules, RuleCompiler } from '../../../../native/compiler/compiler.js';
import {
  ENTRY_BYTES,
  KEY_BYTES,
  MAX_CLAUSES,
  NO_SET,
  V6_SPLIT_MAX,
  type EntryMap,
} from '../../../../native/compiler/layout.js';
import type { MapImage } from '../../../../native/compiler/types.js';
import { chooseV6Split } from '../../../../native/compiler/v6-buckets.js';
import { describeEntry } from './describe-entry.js';
import * as abi from '../../../../native/abi.js';
import { defaults, v4 } from './rule-fixtures.js';

/** Entries of an image as {key hex, value bytes, ruleId, setId}. */
function entries(
  image: MapImage,
  keySize: number,
): Array<{ key: string; value: Buffer; ruleId: number; setId: number }> {
  return Array.from({ length: image.count }, (_, i) => {
    const value = image.values.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES);
    return {
      key: image.keys.subarray(i * keySize, (i + 1) * keySize).toString('hex'),
      value,
      ruleId: value.readUInt32LE(0),
      setId: value.readUInt32LE(4),
    };
  });
}

const ids = (compiled: ReturnType<typeof compileRules>, entry: { value: Buffer }) =>
  describeEntry(compiled, entry.value, true).map((c) => c.ruleId);

test('an exact address inherits the clauses of every covering prefix, most specific first', () => {
  const compiled = compileRules(
    [
      v4(1, '10.0.0.0/8'),
      v4(2, '10.1.0.0/16', { action: 'allow' }),
      v4(3, '10.1.2.3', { protocol: 'tcp', portLo: 443, portHi: 443 }),
    ],
    defaults,
    true,
  );
  assert.equal(compiled.v4Exact.count, 1);
  assert.equal(compiled.v4Lpm.count, 2);
  const [exact] = entries(compiled.v4Exact, 8);
  assert.equal(exact!.key, '000000000a010203', 'scope 0 (LE) then the address in network order');
  const clauses = describeEntry(compiled, exact!.value, true);
  assert.deepEqual(
    clauses.map((c) => c.ruleId),
    [3, 2, 1],
  );
  assert.deepEqual(
    clauses.map((c) => c.action),
    [2, 1, 2],
  );
  const lpm = entries(compiled.v4Lpm, 12);
  assert.deepEqual(
    lpm.map((e) => e.key),
    ['28000000000000000a000000', '30000000000000000a010000'],
    'prefixlen = 32 + length',
  );
});

test('within one prefix: narrower ports, then a specific protocol, then block on a full tie', () => {
  const compiled = compileRules(
    [
      v4(1, '10.0.0.0/8', { action: 'allow' }),
      v4(2, '10.0.0.0/8', { portLo: 80, portHi: 90 }),
      v4(3, '10.0.0.0/8', { portLo: 80, portHi: 80, action: 'allow' }),
      v4(4, '10.0.0.0/8', { protocol: 'udp' }),
      v4(5, '10.0.0.0/8', { action: 'block' }),
    ],
    defaults,
    true,
  );
  const [entry] = entries(compiled.v4Lpm, 12);
  assert.deepEqual(ids(compiled, entry!), [3, 2, 4, 5, 1]);
});

test('scopes do not inherit from each other; /0 covers everything in its scope', () => {
  const compiled = compileRules(
    [v4(1, '0.0.0.0/0'), v4(2, '10.1.2.3', { scope: 7, action: 'allow' }), v4(3, '10.1.2.4')],
    defaults,
    true,
  );
  const exact = entries(compiled.v4Exact, 8);
  const app = exact.find((e) => e.key.startsWith('07000000'))!;
  const global = exact.find((e) => e.key.startsWith('00000000'))!;
  assert.deepEqual(ids(compiled, app), [2]);
  assert.deepEqual(ids(compiled, global), [3, 1]);
});

test('sibling prefixes do not inherit from each other', () => {
  const compiled = compileRules(
    [v4(1, '10.0.0.0/24'), v4(2, '10.0.1.0/24', { action: 'allow' }), v4(3, '10.0.1.5')],
    defaults,
    true,
  );
  const [exact] = entries(compiled.v4Exact, 8);
  assert.deepEqual(ids(compiled, exact!), [3, 2]);
});

test('IPv6 prefixes inherit across word boundaries', () => {
  const addr = (text: string) => {
    const bytes = new Uint8Array(16);
    text.split(':').forEach((group, i) => bytes.set([parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff], i * 2));
    return bytes;
  };
  const rule6 = (ruleId: number, hex: string, prefixLen: number): KernelRule => ({
    ...v4(ruleId, '0.0.0.0'),
    family: 6,
    addr: addr(hex),
    prefixLen,
  });
  const compiled = compileRules(
    [
      rule6(1, '2001:0db8:0:0:0:0:0:0', 32),
      rule6(2, '2001:0db8:0001:0:0:0:0:0', 48),
      rule6(3, '2001:0db8:0001:0:0:0:0:0005', 128),
      rule6(4, '2001:0db9:0:0:0:0:0:0005', 128),
    ],
    defaults,
    true,
  );
  const exact = entries(compiled.v6Exact, 20);
  const inside = exact.find((e) => e.key.endsWith('20010db8000100000000000000000005'))!;
  const outside = exact.find((e) => e.key.endsWith('20010db9000000000000000000000005'))!;
  assert.deepEqual(ids(compiled, inside), [3, 2, 1]);
  assert.deepEqual(ids(compiled, outside), [4]);
});

test('v6 prefixes from the split on go to the prefix hash with their bucket lengths, shorter ones to the trie', () => {
  const addr = (hex: string) => {
    const bytes = new Uint8Array(16);
    hex.split(':').forEach((group, i) => bytes.set([parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff], i * 2));
    return bytes;
  };
  const rule6 = (ruleId: number, hex: string, prefixLen: number, scope = 0): KernelRule => ({
    ...v4(ruleId, '0.0.0.0'),
    family: 6,
    addr: addr(hex),
    prefixLen,
    scope,
  });
  // 130 /48s make the split 16: the /0 and /8 stay in the trie.
  const many = Array.from({ length: 130 }, (_, i) => rule6(100 + i, `2400:${(i + 1).toString(16)}:0:0:0:0:0:0`, 48));
  const compiled = compileRules(
    [
      ...many,
      rule6(1, '0:0:0:0:0:0:0:0', 0),
      rule6(2, '2000:0:0:0:0:0:0:0', 8),
      rule6(3, '2001:0db8:0:0:0:0:0:0', 16),
      rule6(4, '2001:0db8:0001:0:0:0:0:0', 48),
      rule6(5, '2001:0db8:0001:0002:0:0:0:0', 100),
      rule6(6, '2001:0db8:0001:0:0:0:0:0', 48, 7),
      rule6(7, '2001:0db8:0001:0:0:0:0:0005', 128),
    ],
    defaults,
    true,
  );
  assert.equal(compiled.v6Split, 16);
  assert.equal(compiled.v6Lpm.count, 2, '/0 and /8');
  assert.equal(compiled.v6Prefix.count, 130 + 4, '/16, /48, /100 of scope 0 and the /48 of scope 7');
  assert.equal(compiled.v6Exact.count, 1);
  const prefixes = entries(compiled.v6Prefix, 24);
  // {scope, prefixlen, masked address}: the /100 inherits /48, /16, /8 and /0 of its scope only.
  const p100 = prefixes.find((e) => e.key === `00000000${'64000000'}20010db8000100020000000000000000`)!;
  assert.deepEqual(ids(compiled, p100), [5, 4, 3, 2, 1]);
  const app48 = prefixes.find((e) => e.key.startsWith('07000000'))!;
  assert.deepEqual(ids(compiled, app48), [6]);
  // Buckets {scope, pad, first 16 bits}: 2001 (scope 0) holds 16, 48, 100; 2001 of scope 7 only 48.
  const buckets = new Map(
    Array.from({ length: compiled.v6Buckets.count }, (_, i) => [
      compiled.v6Buckets.keys.toString('hex', i * 16, i * 16 + 16),
      [compiled.v6Buckets.values.readBigUInt64LE(i * 16), compiled.v6Buckets.values.readBigUInt64LE(i * 16 + 8)],
    ]),
  );
  assert.equal(buckets.size, 1 + 1 + 1, 'scope 0 2001, scope 7 2001, scope 0 2400');
  assert.deepEqual(buckets.get(`00000000000000002001000000000000`), [(1n << 16n) | (1n << 48n), 1n << 36n]);
  assert.deepEqual(buckets.get(`07000000000000002001000000000000`), [1n << 48n, 0n]);
  assert.deepEqual(buckets.get(`00000000000000002400000000000000`), [1n << 48n, 0n]);
});

test('the v6 split: shortest length with at least 1/64 of the CIDR keys at or below it', () => {
  const lengths = (pairs: Array<[number, number]>) => {
    const counts = new Uint32Array(129);
    for (const [len, n] of pairs) counts[len] = n;
    return counts;
  };
  assert.equal(chooseV6Split([]), V6_SPLIT_MAX, 'no CIDRs');
  assert.equal(chooseV6Split([lengths([[128, 1000]])]), V6_SPLIT_MAX, 'exact addresses do not count');
  assert.equal(
    chooseV6Split([
      lengths([
        [24, 100],
        [48, 1000],
        [64, 1000],
      ]),
    ]),
    24,
  );
  assert.equal(
    chooseV6Split([
      lengths([
        [0, 1],
        [16, 1],
        [32, 1000],
      ]),
    ]),
    32,
    'a few short ones stay in the trie',
  );
  assert.equal(
    chooseV6Split([
      lengths([
        [0, 1],
        [48, 10],
      ]),
    ]),
    1,
    '/0 is never hashed',
  );
  assert.equal(
    chooseV6Split([lengths([[8, 10]]), lengths([[100, 1000]])]),
    V6_SPLIT_MAX,
    'summed over scopes, at most 64',
  );
});

test('a million exact blocks need no clause set; each entry keeps its own rule id', () => {
  const rules: KernelRule[] = [];
  for (let i = 0; i < 1_000_000; i++) {
    rules.push(v4(i + 1, `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`));
  }
  const compiled = compileRules(rules, defaults, true);
  assert.equal(compiled.v4Exact.count, 1_000_000);
  assert.equal(compiled.sets.count, 0);
  const sample = entries({ ...compiled.v4Exact, count: 3 }, 8);
  assert.deepEqual(
    sample.map((e) => e.ruleId),
    [1, 2, 3],
    'each entry keeps its own rule id',
  );
  assert.deepEqual(
    sample.map((e) => e.setId),
    [NO_SET, NO_SET, NO_SET],
  );
});

test('a full compile reports growing images whose ready entries are final, in the buffers of the complete image (keys given twice counted once)', () => {
  // Enough keys of each kind for several progress reports per family.
  const rules: KernelRule[] = [];
  for (let i = 0; i < 100_000; i++) {
    const octets = [10 + (i >>> 16), (i >>> 8) & 255, i & 255, 0];
    rules.push(v4(rules.length + 1, `${octets.join('.')}/${i % 3 === 0 ? 24 : 32}`));
    const v6addr = Uint8Array.from({ length: 16 }, (_, b) =>
      b === 0 ? 0x20 : b === 1 ? 0x01 : b < 5 ? (i >>> (8 * (4 - b))) & 255 : 0,
    );
    rules.push({ ...v4(rules.length + 1, '0.0.0.0'), family: 6, addr: v6addr, prefixLen: i % 3 === 0 ? 40 : 128 });
    // Keys given twice (merged by the compile, so growing images must count them once).
    if (i % 10 === 0)
      rules.push(
        { ...rules.at(-2)!, ruleId: rules.length + 1, protocol: 'tcp' },
        { ...rules.at(-1)!, ruleId: rules.length + 2, protocol: 'udp' },
      );
  }
  const compiler = new RuleCompiler(true);
  compiler.update([], rules, 'rules');
  const reports: Array<{
    map: string;
    count: number;
    ready: number | undefined;
    keys: Buffer;
    values: Buffer;
    readyKeys: Buffer;
    readyValues: Buffer;
  }> = [];
  const compiled = compiler.compileAll(defaults, (map, image) => {
    const ready = image.ready ?? image.count;
    const keyBytes = map === 'v6Buckets' ? 0 : KEY_BYTES[map];
    reports.push({
      map,
      count: image.count,
      ready: image.ready,
      keys: image.keys,
      values: image.values,
      readyKeys: Buffer.from(image.keys.subarray(0, ready * keyBytes)),
      readyValues: Buffer.from(image.values.subarray(0, ready * ENTRY_BYTES)),
    });
  });
  for (const map of ['v4Exact', 'v4Lpm', 'v6Exact', 'v6Prefix'] as EntryMap[]) {
    const image = compiled[map];
    const mine = reports.filter((r) => r.map === map);
    assert.ok(mine.length >= 2, `${map}: growing images before the complete one`);
    assert.equal(mine.at(-1)!.ready, undefined, `${map}: the last report is the complete image`);
    let previous = 0;
    for (const report of mine.slice(0, -1)) {
      assert.equal(report.count, image.count, `${map}: a growing image has the final count`);
      assert.ok(report.ready! > previous && report.ready! < image.count, `${map}: ready grows`);
      previous = report.ready!;
      assert.equal(report.keys.buffer, image.keys.buffer, `${map}: the same key buffer`);
      assert.equal(report.values.buffer, image.values.buffer, `${map}: the same value buffer`);
      assert.ok(
        report.readyKeys.equals(image.keys.subarray(0, report.readyKeys.length)),
        `${map}: ready keys are never rewritten`,
      );
      assert.ok(
        report.readyValues.equals(image.values.subarray(0, report.readyValues.length)),
        `${map}: ready values are never rewritten`,
      );
    }
  }
  assert.ok(compiled.v6Buckets.count > 0);
  assert.deepEqual(
    reports.filter((r) => r.map === 'v6Buckets').map((r) => [r.count, r.values.buffer]),
    [[compiled.v6Buckets.count, compiled.v6Buckets.values.buffer]],
    'the buckets once, complete, before the sets',
  );
  // The same entries as a compile nobody watched.
  const plain = compileRules(rules, defaults, true);
  for (const map of ['v4Exact', 'v4Lpm', 'v6Exact', 'v6Lpm', 'v6Prefix', 'v6Buckets', 'sets'] as const) {
    assert.ok(
      plain[map].keys.equals(compiled[map].keys) && plain[map].values.equals(compiled[map].values),
      `${map} as without onImage`,
    );
  }
});

test('more covering rules than a clause set holds: kept most specific first, with a warning', () => {
  const rules = Array.from({ length: MAX_CLAUSES + 2 }, (_, i) => v4(i + 1, `10.0.0.0/${8 + i}`));
  rules.push(v4(100, '10.0.0.1'));
  const compiled = compileRules(rules, defaults, true);
  const [exact] = entries(compiled.v4Exact, 8);
  const clauses = describeEntry(compiled, exact!.value, true);
  assert.equal(clauses.length, MAX_CLAUSES + 1, 'the inline clause, then a full set');
  assert.equal(clauses[0]!.ruleId, 100);
  assert.ok(compiled.warnings.length > 0);
});

test('bad input is refused with the rule and the reason', () => {
  assert.throws(() => compileRules([v4(0, '10.0.0.1')], defaults), /rules\[0\].*ruleId/);
  assert.throws(() => compileRules([v4(1, '10.0.0.1', { prefixLen: 33 })], defaults), /rules\[0\].*prefixLen/);
  assert.throws(
    () => compileRules([v4(1, '10.0.0.1'), v4(2, '10.0.0.1', { portLo: 90, portHi: 80 })], defaults),
    /rules\[1\].*ports/,
  );
  const mapped = {
    ...v4(1, '0.0.0.0'),
    family: 6 as const,
    addr: Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]),
    prefixLen: 128,
  };
  assert.throws(() => compileRules([mapped], defaults), /IPv4-mapped/);
  assert.throws(() => compileRules([], { global: 'allow', perApp: new Map([[0, 'block']]) }), /app id 0/);
  // Names every object inherits are not protocols, directions or actions.
  assert.throws(
    () => compileRules([v4(1, '10.0.0.1', { protocol: 'toString' as never })], defaults),
    /rules\[0\].*unknown protocol toString/,
  );
  assert.throws(
    () => compileRules([v4(1, '10.0.0.1', { direction: 'constructor' as never })], defaults),
    /rules\[0\].*unknown direction constructor/,
  );
  assert.throws(
    () => compileRules([v4(1, '10.0.0.1', { action: 'valueOf' as never })], defaults),
    /rules\[0\].*unknown action valueOf/,
  );
  assert.throws(
    () => compileRules([], { global: 'hasOwnProperty' as never, perApp: new Map() }),
    /defaults.global: unknown action hasOwnProperty/,
  );
});

test('everything under one covering prefix shares one clause set', () => {
  const rules = [v4(1, '10.0.0.0/8', { action: 'allow' })];
  for (let i = 0; i < 1000; i++)
    rules.push(v4(10 + i, `10.0.${i >> 8}.${i & 255}`, { portLo: i, portHi: i + 5, protocol: 'tcp' }));
  const compiled = compileRules(rules, defaults, true);
  assert.equal(compiled.sets.count, 1);
  const exact = entries(compiled.v4Exact, 8);
  assert.ok(exact.every((e) => e.setId === exact[0]!.setId));
  assert.deepEqual(ids(compiled, exact[5]!), [15, 1]);
});

test('per-app defaults and the global default are encoded', () => {
  const compiled = compileRules(
    [],
    {
      global: 'block',
      perApp: new Map([
        [5, 'allow'],
        [6, 'block'],
      ]),
    },
    true,
  );
  assert.equal(compiled.globalDefault, 2);
  assert.equal(compiled.appDefaults.count, 2);
  assert.deepEqual([...compiled.appDefaults.values], [1, 2]);
  assert.equal(compiled.appDefaults.keys.readUInt32LE(4), 6);
});

/** The pcl_app_dflt entries of a compile, app id to value. */
function appEntries(compiled: { appDefaults: { count: number; keys: Buffer; values: Buffer } }): Map<number, number> {
  const { count, keys, values } = compiled.appDefaults;
  return new Map(Array.from({ length: count }, (_, i) => [keys.readUInt32LE(i * 4), values[i]!]));
}

test('an app with rules of its own is marked so (its scope is looked up only then), with or without a default', () => {
  const compiled = compileRules(
    [v4(1, '10.0.0.1', { scope: 7 }), v4(2, '10.0.0.2', { scope: 9 }), v4(3, '10.0.0.3')],
    {
      global: 'allow',
      perApp: new Map([
        [9, 'block'],
        [11, 'allow'],
      ]),
    },
    true,
  );
  assert.deepEqual(
    appEntries(compiled),
    new Map([
      [9, abi.PCL_ACT_BLOCK | abi.PCL_APP_HAS_RULES],
      [11, abi.PCL_ACT_ALLOW],
      [7, abi.PCL_ACT_NONE | abi.PCL_APP_HAS_RULES],
    ]),
  );
});

test("an app's first rule added after a compile makes the next compile a full one; more rules of a marked app do not", () => {
  const compiler = new RuleCompiler(true);
  compiler.update([], [v4(1, '10.0.0.1', { scope: 7 })]);
  compiler.compileAll(defaults);
  assert.equal(compiler.needsFullCompile, false);
  compiler.update([], [v4(2, '10.0.0.2', { scope: 7 }), v4(3, '10.0.0.3')]);
  assert.equal(compiler.needsFullCompile, false, 'app 7 is marked, scope 0 always looked up');
  compiler.compileChange();
  compiler.update([], [v4(4, '10.0.0.4', { scope: 8 })]);
  assert.equal(compiler.needsFullCompile, true, 'app 8 has no mark in the kernel yet: a diff would go unseen');
  const full = compiler.compileAll(defaults);
  assert.equal(appEntries(full).get(8), abi.PCL_APP_HAS_RULES);
  assert.equal(compiler.needsFullCompile, false);
});

test('an IPv4 address given as a number compiles exactly as its bytes do; a bad one is refused', () => {
  const texts = ['10.0.0.0/8', '10.1.2.3', '10.1.2.0/24', '192.0.2.255', '0.0.0.0/0', '255.255.255.255'];
  const asBytes = texts.map((text, i) => v4(i + 1, text, { action: i % 2 ? 'allow' : 'block' }));
  const asNumbers: CompilableRule[] = asBytes.map((rule) => ({
    ...rule,
    family: 4 as const,
    addr: ((rule.addr[0]! << 24) | (rule.addr[1]! << 16) | (rule.addr[2]! << 8) | rule.addr[3]!) >>> 0,
  }));
  const a = compileRules(asBytes, defaults);
  const b = compileRules(asNumbers, defaults);
  for (const map of ['v4Exact', 'v4Lpm'] as const) {
    assert.deepEqual(b[map].keys, a[map].keys, map);
    assert.deepEqual(b[map].values, a[map].values, map);
  }
  assert.throws(() => compileRules([{ ...asNumbers[0]!, family: 4, addr: 2 ** 32 }], defaults), /numeric addr/);
  assert.throws(
    () => compileRules([{ ...v4(1, '10.0.0.1'), family: 6, addr: 1 } as unknown as CompilableRule], defaults),
    /numeric addr/,
  );
});
