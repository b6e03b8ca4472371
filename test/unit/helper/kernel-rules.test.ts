import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRemote, type Rule } from '../../../main/contract/index.js';
import { toKernelDefaults, toKernelRules } from '../../../main/helper/kernel-rules.js';

function rule(id: number, remote: string, extra: Partial<Rule> = {}): Rule {
  const parsed = parseRemote(remote);
  assert.ok(parsed.ok);
  return {
    id,
    action: 'block',
    appId: null,
    remote: parsed.value,
    ports: null,
    protocol: 'any',
    direction: 'both',
    expiresAt: null,
    note: '',
    enabled: true,
    createdAt: 0,
    updatedAt: 0,
    hits: 0,
    ...extra,
  };
}

test('addresses and CIDRs become prefixes in network order; ports default to the whole range', () => {
  const [v4, v6] = toKernelRules(
    [
      rule(1, '10.1.0.0/16'),
      rule(2, '2001:db8::1', {
        ports: { from: 443, to: 443 },
        protocol: 'tcp',
        appId: 7,
        direction: 'out',
        action: 'allow',
      }),
    ],
    0,
  );
  assert.deepEqual(
    { ...v4, addr: Array.from(v4!.addr) },
    {
      ruleId: 1,
      scope: 0,
      family: 4,
      addr: [10, 1, 0, 0],
      prefixLen: 16,
      portLo: 0,
      portHi: 65535,
      protocol: 'any',
      direction: 'both',
      action: 'block',
    },
  );
  assert.equal(v6!.family, 6);
  assert.equal(v6!.prefixLen, 128);
  assert.deepEqual(Array.from(v6!.addr.slice(0, 4)), [0x20, 0x01, 0x0d, 0xb8]);
  assert.equal(v6!.addr[15], 1);
  assert.deepEqual(
    [v6!.scope, v6!.portLo, v6!.portHi, v6!.protocol, v6!.direction, v6!.action],
    [7, 443, 443, 'tcp', 'out', 'allow'],
  );
});

test('an IPv4-mapped IPv6 rule is entered as IPv4', () => {
  const [entry] = toKernelRules([rule(3, '::ffff:127.0.0.5')], 0);
  assert.equal(entry!.family, 4);
  assert.deepEqual(Array.from(entry!.addr), [127, 0, 0, 5]);
});

test('"any" remote covers both families; disabled, expired and domain rules have no entries', () => {
  const entries = toKernelRules(
    [
      rule(1, 'any', { ports: { from: 25, to: 25 } }),
      rule(2, '10.0.0.1', { enabled: false }),
      rule(3, '10.0.0.2', { expiresAt: 1000 }),
      rule(4, 'example.com'),
      rule(5, '10.0.0.3', { expiresAt: 5000 }),
    ],
    2000,
  );
  assert.deepEqual(
    entries.map((e) => [e.ruleId, e.family, e.prefixLen]),
    [
      [1, 4, 0],
      [1, 6, 0],
      [5, 4, 32],
    ],
  );
});

test('per-app defaults come from apps that set one', () => {
  const app = (id: number, defaultAction: 'allow' | 'block' | null) => ({
    id,
    kind: 'executable' as const,
    name: 'x',
    exe: null,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: 0,
    lastSeen: 0,
    defaultAction,
  });
  const defaults = toKernelDefaults('block', [app(1, null), app(2, 'allow')]);
  assert.equal(defaults.global, 'block');
  assert.deepEqual([...defaults.perApp], [[2, 'allow']]);
});
