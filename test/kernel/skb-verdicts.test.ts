// Table-driven BPF_PROG_TEST_RUN of the cgroup_skb programs (full evaluation and cached path):
// IPv4, IPv6, mapped addresses, extension headers, truncated and garbage packets, CIDR edges,
// port ranges, protocol and direction, precedence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSandbox } from '../support/sandbox.js';
import type { KernelDefaults } from '../../native/api.js';
import type { TestProgram } from '../../native/testing.js';
import { allowByDefault, openFixture, rule } from './kernel-fixture.js';
import { ipv4, ipv6, type ExtensionHeader, type L4 } from './packets.js';

const LOCAL4 = '192.168.50.1';
const LOCAL6 = 'fd00::1';
const tcp = (dport: number, sport = 40000): L4 => ({ proto: 'tcp', sport, dport });
const udp = (dport: number, sport = 40000): L4 => ({ proto: 'udp', sport, dport });
const icmp: L4 = { proto: 'icmp' };

/** A packet to (egress) or from (ingress) `remote`. */
function packet(program: TestProgram, remote: string, l4: L4, ext: ExtensionHeader[] = []): Uint8Array {
  const v6 = remote.includes(':');
  const local = v6 ? LOCAL6 : LOCAL4;
  const swapped: L4 = l4.proto === 'icmp' ? l4 : { ...l4, sport: l4.dport, dport: l4.sport };
  if (program === 'egress') return v6 ? ipv6(local, remote, l4, ext) : ipv4(local, remote, l4);
  return v6 ? ipv6(remote, local, swapped, ext) : ipv4(remote, local, swapped);
}

const rules = [
  rule('block', '10.1.0.0/16'),
  rule('allow', '10.1.2.0/24'),
  rule('block', '10.1.2.3', { protocol: 'tcp', portLo: 443, portHi: 443 }),
  rule('block', '10.2.0.0/16', { protocol: 'udp', portLo: 53, portHi: 53 }),
  rule('block', '10.3.0.0/24', { portLo: 1000, portHi: 2000 }),
  rule('allow', '10.3.0.0/24', { portLo: 1500, portHi: 1500 }),
  rule('block', '10.4.0.0/16'),
  rule('allow', '10.4.0.0/16', { protocol: 'tcp' }),
  rule('allow', '10.5.0.0/16'),
  rule('block', '10.5.0.0/16'),
  rule('block', '10.6.0.0/24'),
  rule('allow', '10.6.1.0/24'),
  rule('block', '10.7.0.1'),
  rule('block', '10.8.0.0/16', { direction: 'in' }),
  rule('block', '10.9.0.0/16', { direction: 'out' }),
  rule('block', '10.10.0.0/16', { protocol: 'icmp' }),
  rule('block', '2001:db8::/32'),
  rule('allow', '2001:db8:1::/48'),
  rule('block', '2001:db8:1::5'),
  rule('block', '2001:db8:2::/64', { protocol: 'udp', portLo: 5000, portHi: 5999 }),
];

type Case = [
  name: string,
  program: TestProgram,
  remote: string,
  l4: L4,
  expected: 'allow' | 'block',
  ext?: ExtensionHeader[],
];

const cases: Case[] = [
  ['v4 /16 block', 'egress', '10.1.9.9', tcp(80), 'block'],
  ['v4 longer allow /24 inside a /16 block', 'egress', '10.1.2.4', tcp(80), 'allow'],
  ['v4 /32 tcp:443 block inside the /24 allow', 'egress', '10.1.2.3', tcp(443), 'block'],
  ['v4 /32 rule: another port falls back to the /24 allow', 'egress', '10.1.2.3', tcp(444), 'allow'],
  ['v4 /32 rule: udp 443 falls back to the /24 allow', 'egress', '10.1.2.3', udp(443), 'allow'],
  ['udp 53 rule blocks udp 53', 'egress', '10.2.0.1', udp(53), 'block'],
  ['udp 53 rule leaves tcp 53 alone', 'egress', '10.2.0.1', tcp(53), 'allow'],
  ['udp 53 rule leaves udp 54 alone', 'egress', '10.2.0.1', udp(54), 'allow'],
  ['port range low edge', 'egress', '10.3.0.1', tcp(1000), 'block'],
  ['port range high edge', 'egress', '10.3.0.1', tcp(2000), 'block'],
  ['below the port range', 'egress', '10.3.0.1', tcp(999), 'allow'],
  ['above the port range', 'egress', '10.3.0.1', tcp(2001), 'allow'],
  ['narrower port range wins', 'egress', '10.3.0.1', tcp(1500), 'allow'],
  ['specific protocol beats any', 'egress', '10.4.0.1', tcp(80), 'allow'],
  ['any protocol applies to the rest', 'egress', '10.4.0.1', udp(80), 'block'],
  ['full tie: block wins', 'egress', '10.5.0.1', tcp(80), 'block'],
  ['adjacent /24s: last address of the blocked one', 'egress', '10.6.0.255', tcp(80), 'block'],
  ['adjacent /24s: first address of the allowed one', 'egress', '10.6.1.0', tcp(80), 'allow'],
  ['/32 edge: the address', 'egress', '10.7.0.1', tcp(80), 'block'],
  ['/32 edge: one below', 'egress', '10.7.0.0', tcp(80), 'allow'],
  ['/32 edge: one above', 'egress', '10.7.0.2', tcp(80), 'allow'],
  ["'in' rule: ingress blocked", 'ingress', '10.8.0.1', tcp(80), 'block'],
  ["'in' rule: egress untouched", 'egress', '10.8.0.1', tcp(80), 'allow'],
  ["'out' rule: egress blocked", 'egress', '10.9.0.1', tcp(80), 'block'],
  ["'out' rule: ingress untouched", 'ingress', '10.9.0.1', tcp(80), 'allow'],
  ["'both' rule: ingress blocked", 'ingress', '10.1.9.9', tcp(80), 'block'],
  ['icmp rule blocks ICMP', 'egress', '10.10.0.1', icmp, 'block'],
  ['icmp rule leaves tcp alone', 'egress', '10.10.0.1', tcp(80), 'allow'],
  ['unruled v4', 'egress', '172.16.0.1', tcp(80), 'allow'],
  ['v6 /32 block', 'egress', '2001:db8:ffff::1', tcp(80), 'block'],
  ['v6 /48 allow inside', 'egress', '2001:db8:1::4', tcp(80), 'allow'],
  ['/128 edge: the address', 'egress', '2001:db8:1::5', tcp(80), 'block'],
  ['/128 edge: one below', 'egress', '2001:db8:1::4', udp(80), 'allow'],
  ['/128 edge: one above', 'egress', '2001:db8:1::6', tcp(80), 'allow'],
  ['v6 udp port range', 'egress', '2001:db8:2::9', udp(5999), 'block'],
  ['v6 udp port range: tcp falls back to the /32 block', 'egress', '2001:db8:2::9', tcp(5999), 'block'],
  ['ICMPv6 matches the any-protocol /32', 'egress', '2001:db8:ffff::1', icmp, 'block'],
  ['unruled v6', 'egress', '2001:db9::1', tcp(80), 'allow'],
  ['v6 ingress from a blocked prefix', 'ingress', '2001:db8:ffff::1', tcp(80), 'block'],
  ['hop-by-hop + dest opts before tcp', 'egress', '2001:db8:1::5', tcp(80), 'block', [0, 60]],
  ['routing header, port rule still seen', 'egress', '2001:db8:2::9', udp(5000), 'block', [43]],
  ['fragment header (first fragment) then udp', 'egress', '2001:db8:2::9', udp(5000), 'block', [44]],
  ['AH then udp', 'egress', '2001:db8:2::9', udp(5000), 'block', [51]],
  ['all five kinds chained', 'egress', '2001:db8:2::9', udp(5001), 'block', [0, 43, 60, 44, 51]],
  ['extension headers before an unblocked port', 'egress', '2001:db8:2::9', udp(6000), 'block', [0, 60]],
  ['mapped ::ffff:10.1.9.9 on the wire is 10.1.9.9', 'egress', '::ffff:10.1.9.9', tcp(80), 'block'],
  ['mapped ::ffff:10.1.2.4 follows the v4 /24 allow', 'egress', '::ffff:10.1.2.4', tcp(80), 'allow'],
];

test('cgroup_skb verdicts, full evaluation and cached path, agree with the precedence rules', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    await firewall.setRules(rules, allowByDefault);
    for (const [name, program, remote, l4, expected, ext] of cases) {
      const bytes = packet(program, remote, l4, ext);
      assert.equal(programs.run(program, bytes, { cached: false }).verdict, expected, `${name} (full evaluation)`);
      // repeat: the first run fills the dummy socket's cache, the rest are served from it.
      assert.equal(programs.run(program, bytes, { repeat: 3 }).verdict, expected, `${name} (cached path)`);
    }
  });
});

// BPF_PROG_TEST_RUN itself refuses frames shorter than an IP header (EINVAL), as the stack never
// hands those to cgroup_skb; the truncation starts after the fixed IP header.
const garbage: Array<[string, Uint8Array]> = [
  ['IPv4 header only, protocol TCP', ipv4(LOCAL4, '10.1.9.9', tcp(80)).subarray(0, 20)],
  ['IPv4 header with half a TCP header', ipv4(LOCAL4, '10.1.9.9', tcp(80)).subarray(0, 24)],
  ['IPv4 header with half a UDP header', ipv4(LOCAL4, '10.1.9.9', udp(53)).subarray(0, 22)],
  [
    'IPv4 with IHL < 5',
    (() => {
      const p = ipv4(LOCAL4, '10.1.9.9', tcp(80));
      p[0] = 0x43;
      return p;
    })(),
  ],
  [
    'IPv4 with IHL 15 in a 40-byte packet',
    (() => {
      const p = ipv4(LOCAL4, '10.1.9.9', tcp(80));
      p[0] = 0x4f;
      return p;
    })(),
  ],
  ['IPv6 header only, next header TCP', ipv6(LOCAL6, '2001:db8::1', tcp(80)).subarray(0, 40)],
  ['IPv6 extension header cut short', ipv6(LOCAL6, '2001:db8::1', tcp(80), [0, 60]).subarray(0, 48)],
  [
    'IPv6 with more extension headers than walked',
    ipv6(LOCAL6, '2001:db8::1', tcp(80), [0, 60, 60, 60, 60, 60, 60, 60, 60]),
  ],
  [
    'version nibble 7',
    (() => {
      const p = ipv4(LOCAL4, '10.1.9.9', tcp(80));
      p[0] = 0x75;
      return p;
    })(),
  ],
  ['random bytes', Uint8Array.from({ length: 64 }, (_, i) => (i * 73 + 41) & 0xff)],
];

for (const [globalDefault, expected] of [
  ['allow', 'allow'],
  ['block', 'block'],
] as const) {
  test(`truncated and garbage packets get the global default (${globalDefault}) and never crash`, async () => {
    await withSandbox(async (sandbox) => {
      const { firewall, programs } = await openFixture(sandbox);
      const defaults: KernelDefaults = { global: globalDefault, perApp: new Map() };
      // The /0 rules would decide any parsable packet the other way round.
      const opposite = globalDefault === 'allow' ? 'block' : 'allow';
      await firewall.setRules([rule(opposite, '0.0.0.0/0'), rule(opposite, '::/0')], defaults);
      for (const [name, bytes] of garbage) {
        for (const program of ['egress', 'ingress'] as const) {
          assert.equal(programs.run(program, bytes, { cached: false }).verdict, expected, `${name} (${program})`);
        }
      }
      // Control: a well-formed packet is decided by the /0 rule.
      assert.equal(programs.run('egress', ipv4(LOCAL4, '8.8.8.8', tcp(80)), { cached: false }).verdict, opposite);
      assert.equal(programs.run('egress', ipv6(LOCAL6, '2606:4700::1', tcp(80)), { cached: false }).verdict, opposite);
    });
  });
}

test('/0 with a longer allow inside, and a block-all default with an allow rule', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    await firewall.setRules([rule('block', '0.0.0.0/0'), rule('allow', '192.168.0.0/16')], allowByDefault);
    assert.equal(programs.run('egress', ipv4(LOCAL4, '8.8.8.8', tcp(80)), { cached: false }).verdict, 'block');
    assert.equal(programs.run('egress', ipv4(LOCAL4, '192.168.1.1', tcp(80)), { cached: false }).verdict, 'allow');
    assert.equal(
      programs.run('egress', ipv6(LOCAL6, '2001:db8::1', tcp(80)), { cached: false }).verdict,
      'allow',
      '/0 v4 says nothing about v6',
    );

    await firewall.setRules([rule('allow', '2001:db8::/32', { protocol: 'tcp', portLo: 443, portHi: 443 })], {
      global: 'block',
      perApp: new Map(),
    });
    assert.equal(programs.run('egress', ipv6(LOCAL6, '2001:db8::1', tcp(443)), { cached: false }).verdict, 'allow');
    assert.equal(programs.run('egress', ipv6(LOCAL6, '2001:db8::1', tcp(80)), { cached: false }).verdict, 'block');
    assert.equal(programs.run('egress', ipv4(LOCAL4, '8.8.8.8', tcp(443)), { cached: false }).verdict, 'block');
  });
});

test('enforcement off: everything allowed, decisions still counted', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    await firewall.setRules([rule('block', '10.1.0.0/16')], allowByDefault);
    const blockedPacket = ipv4(LOCAL4, '10.1.9.9', tcp(80));
    assert.equal(programs.run('egress', blockedPacket).verdict, 'block');
    await firewall.setEnforcing(false);
    const before = (await firewall.readCounters()).allowed;
    assert.equal(programs.run('egress', blockedPacket).verdict, 'allow');
    assert.ok((await firewall.readCounters()).allowed > before);
    await firewall.setEnforcing(true);
    assert.equal(programs.run('egress', blockedPacket).verdict, 'block');
  });
});
