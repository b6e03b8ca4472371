// IPv6 prefixes in the kernel: those of v6_split bits or more in the prefix hash (found through
// their bucket's lengths, longest first), shorter ones in the trie, /128 in the exact hash. Full
// evaluation via BPF_PROG_TEST_RUN on both sides of the split, after diffs, and across a swap
// that changes the split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSandbox } from '../support/sandbox.js';
import type { KernelRule } from '../../native/api.js';
import { compileRules } from '../../native/compiler/compiler.js';
import type { TestPrograms } from '../../native/testing.js';
import { allowByDefault, openFixture, rule } from './kernel-fixture.js';
import { ipv6, type L4 } from './packets.js';

const tcp = (dport: number): L4 => ({ proto: 'tcp', sport: 40000, dport });
const udp = (dport: number): L4 => ({ proto: 'udp', sport: 40000, dport });

const table = [
  rule('block', '::/0'),
  rule('allow', '2001::/16'),
  rule('block', '2001:db8::/32'),
  rule('allow', '2001:db8:1::/48'),
  rule('block', '2001:db8:1:2::/64', { protocol: 'udp', portLo: 5000, portHi: 5999 }),
  rule('allow', '2001:db8:1:2::/120'),
  rule('block', '2001:db8:1:2::ff/128'),
  rule('block', '2001:db8:1::5'),
];

/** /48s elsewhere (allow, like the default would), enough that the split lands at 24: /0 and /16 stay in the trie. */
const filler: KernelRule[] = Array.from({ length: 200 }, (_, i) =>
  rule('allow', `2400:${(i + 1).toString(16)}:${(i * 7).toString(16)}::/48`),
);
filler.push(rule('allow', '2400:ff00::/24'), rule('allow', '2400:fe00::/24'));

type Case = [name: string, remote: string, l4: L4, expected: 'allow' | 'block'];

const cases: Case[] = [
  ['/0 (trie) decides what nothing longer covers', '2606:4700::1', tcp(80), 'block'],
  ['/16 (trie, below the split)', '2001:ffff::1', tcp(80), 'allow'],
  ['/32 (hash) inside the /16', '2001:db8:ffff::1', tcp(80), 'block'],
  ['/48 inside the /32', '2001:db8:1::4', tcp(80), 'allow'],
  ['/128 inside the /48', '2001:db8:1::5', tcp(80), 'block'],
  ['/128 edge: one above', '2001:db8:1::6', tcp(80), 'allow'],
  ['/120 (second bitmap word) inside the /64', '2001:db8:1:2::1', tcp(80), 'allow'],
  ['/120 beats the /64 udp rule it inherits', '2001:db8:1:2::1', udp(5000), 'allow'],
  ['/128 inside the /120', '2001:db8:1:2::ff', tcp(80), 'block'],
  ['/64 udp rule outside the /120', '2001:db8:1:2::1:0', udp(5000), 'block'],
  ['/64 udp rule: tcp falls back to the /48 allow', '2001:db8:1:2::1:0', tcp(5000), 'allow'],
  ['/64 udp rule: port past its range falls back to the /48', '2001:db8:1:2::1:0', udp(6000), 'allow'],
  ['a filler bucket: its /48', '2400:1:0:ffff::1', tcp(80), 'allow'],
  ['a filler bucket: outside its /48, under the /24', '2400:ff00:1::1', tcp(80), 'allow'],
];

function verdict(programs: TestPrograms, remote: string, l4: L4): string {
  return programs.run('egress', ipv6('fd00::1', remote, l4), { cached: false }).verdict;
}

function checkAll(programs: TestPrograms, list: Case[], when: string): void {
  for (const [name, remote, l4, expected] of list)
    assert.equal(verdict(programs, remote, l4), expected, `${name} (${when})`);
}

test('v6 prefixes on both sides of the split, nested, with different clauses', async () => {
  const split = compileRules([...table, ...filler], allowByDefault).v6Split;
  assert.equal(split, 24, 'the ruleset puts /0 and /16 in the trie, /32 and longer in the hash');
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    await firewall.setRules([...table, ...filler], allowByDefault);
    checkAll(programs, cases, 'split 24');
  });
});

test('v6 diffs keep the longest match, and a swap that changes the split keeps the verdicts', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    await firewall.setRules([...table, ...filler], allowByDefault);

    // A /56 between the /48 and the /128 comes and goes in place.
    const inner = rule('block', '2001:db8:1::/56');
    assert.equal((await firewall.changeRules({ removed: [], added: [inner] }, allowByDefault)).mode, 'diff');
    checkAll(
      programs,
      [
        ['new /56 under the /48', '2001:db8:1::4', tcp(80), 'block'],
        ['/128 still inside it', '2001:db8:1::6', tcp(80), 'block'],
        ['/120 past the /56', '2001:db8:1:2::1', tcp(80), 'allow'],
      ],
      'after adding /56',
    );
    assert.equal((await firewall.changeRules({ removed: [inner], added: [] }, allowByDefault)).mode, 'diff');
    checkAll(programs, cases, 'after removing /56');

    // The /48 goes (its bucket keeps other lengths), a /40 comes in a new bucket, then back again.
    const allow48 = table[3]!;
    const fresh = rule('block', '2a00:1:200::/40');
    assert.equal((await firewall.changeRules({ removed: [allow48], added: [fresh] }, allowByDefault)).mode, 'diff');
    checkAll(
      programs,
      [
        ['/48 gone: the /32 decides', '2001:db8:1::4', tcp(80), 'block'],
        ['new bucket /40', '2a00:1:2ff::1', tcp(80), 'block'],
        ['/120 still there', '2001:db8:1:2::1', tcp(80), 'allow'],
      ],
      'after swapping /48 for /40',
    );
    assert.equal((await firewall.changeRules({ removed: [fresh], added: [allow48] }, allowByDefault)).mode, 'diff');
    checkAll(programs, cases, 'after putting the /48 back');

    // Without the filler the split drops to 1 (every prefix but /0 hashed); a defaults change swaps.
    const blockApp = { global: 'allow' as const, perApp: new Map([[99, 'block' as const]]) };
    assert.equal(compileRules(table, blockApp).v6Split, 1);
    assert.equal((await firewall.changeRules({ removed: filler, added: [] }, blockApp)).mode, 'swap');
    checkAll(
      programs,
      cases.filter(([name]) => !name.startsWith('a filler')),
      'split 1',
    );
    assert.equal(verdict(programs, '2400:1:0:ffff::1', tcp(80)), 'block', 'filler gone: /0 decides');
    assert.equal((await firewall.changeRules({ removed: [], added: filler }, allowByDefault)).mode, 'swap');
    checkAll(programs, cases, 'split 24 again');
  });
});
