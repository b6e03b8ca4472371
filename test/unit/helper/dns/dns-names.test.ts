import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clampTtl,
  DnsNames,
  DISPLAY_GRACE_MS,
  MAX_TTL_SEC,
  MIN_TTL_SEC,
  nameIsUnder,
} from '../../../../main/helper/dns/dns-names.js';
import { DomainRuleAddresses, MAX_ADDRESSES_PER_RULE } from '../../../../main/helper/dns/domain-rules.js';
import type { Rule } from '../../../../main/contract/index.js';

const T0 = 1_700_000_000_000;

test('dns-names: an address is known by the name asked for, until TTL plus grace', () => {
  const names = new DnsNames();
  names.record([{ address: '10.0.0.7', family: 4, names: ['www.shop.test', 'edge.cdn.test'], ttl: 120 }], T0);
  assert.equal(names.nameOf('10.0.0.7', T0), 'www.shop.test');
  assert.equal(names.nameOf('10.0.0.8', T0), null);
  assert.equal(names.nameOf('10.0.0.7', T0 + 120_000 + DISPLAY_GRACE_MS - 1), 'www.shop.test');
  assert.equal(names.nameOf('10.0.0.7', T0 + 120_000 + DISPLAY_GRACE_MS), null);
});

test('dns-names: addresses of a domain expire with their TTL, never below the floor', () => {
  const names = new DnsNames();
  names.record(
    [
      { address: '1.1.1.1', family: 4, names: ['example.com'], ttl: 300 },
      { address: '2001:db8::5', family: 6, names: ['example.com'], ttl: 0 },
      { address: '2.2.2.2', family: 4, names: ['cdn.example.com'], ttl: 300 },
      { address: '3.3.3.3', family: 4, names: ['badexample.com'], ttl: 300 },
    ],
    T0,
  );
  const at = (now: number, subdomains: boolean) =>
    names
      .addressesOf('example.com', subdomains, now)
      .map((a) => a.address)
      .sort();
  assert.deepEqual(at(T0, false), ['1.1.1.1', '2001:db8::5']);
  assert.deepEqual(at(T0, true), ['1.1.1.1', '2.2.2.2', '2001:db8::5']);
  assert.deepEqual(at(T0 + MIN_TTL_SEC * 1000, false), ['1.1.1.1']);
  assert.deepEqual(at(T0 + 300_000, true), []);
});

test('dns-names: sweep removes stale entries; a full cache evicts the soonest to expire', () => {
  const names = new DnsNames({ maxAddresses: 100 });
  for (let i = 0; i < 100; i++)
    names.record([{ address: `10.1.0.${i}`, family: 4, names: [`h${i}.test`], ttl: 60 + i }], T0);
  assert.equal(names.size, 100);
  names.record([{ address: '10.2.0.1', family: 4, names: ['new.test'], ttl: 60 }], T0);
  assert.ok(names.size <= 100);
  assert.equal(names.nameOf('10.2.0.1', T0), 'new.test');
  assert.equal(names.nameOf('10.1.0.0', T0), null, 'the soonest-expiring entry made room');
  assert.equal(names.nameOf('10.1.0.99', T0), 'h99.test');
  names.sweep(T0 + 10 * 3600_000);
  assert.equal(names.size, 0);
  assert.deepEqual(names.addressesOf('h99.test', false, T0), []);
});

test('dns-names: nameIsUnder respects label boundaries', () => {
  assert.ok(nameIsUnder('example.com', 'example.com'));
  assert.ok(nameIsUnder('a.b.example.com', 'example.com'));
  assert.ok(!nameIsUnder('badexample.com', 'example.com'));
  assert.ok(!nameIsUnder('com', 'example.com'));
});

function domainRule(id: number, name: string, subdomains: boolean, extra: Partial<Rule> = {}): Rule {
  return {
    id,
    action: 'block',
    appId: null,
    remote: { kind: 'domain', name, subdomains },
    ports: null,
    protocol: 'any',
    direction: 'both',
    expiresAt: null,
    note: '',
    enabled: true,
    createdAt: T0,
    updatedAt: T0,
    hits: 0,
    ...extra,
  };
}

test('domain-rules: a rule picks up addresses already resolved and ones resolved later, and drops them at TTL', () => {
  const names = new DnsNames();
  names.record([{ address: '1.1.1.1', family: 4, names: ['example.com'], ttl: 60 }], T0);
  const domains = new DomainRuleAddresses(names);
  domains.setRules(
    [
      domainRule(7, 'example.com', false),
      domainRule(8, 'tracker.test', true, { appId: 3, ports: { from: 443, to: 443 } }),
    ],
    T0,
  );
  assert.deepEqual(
    domains.addressRules().map((r) => [r.id, r.remote]),
    [[7, { kind: 'address', family: 4, text: '1.1.1.1', address: '1.1.1.1', prefixLen: 32 }]],
  );

  assert.equal(
    domains.learn(names.record([{ address: '2001:db8::9', family: 6, names: ['x.y.tracker.test'], ttl: 600 }], T0)),
    true,
  );
  assert.equal(
    domains.learn(names.record([{ address: '9.9.9.9', family: 4, names: ['www.example.com'], ttl: 600 }], T0)),
    false,
    'exact rule ignores subdomains',
  );
  assert.equal(
    domains.learn(names.record([{ address: '2001:db8::9', family: 6, names: ['x.y.tracker.test'], ttl: 900 }], T0)),
    false,
    'a longer TTL for a known address changes no kernel rule',
  );
  const tracker = domains.addressRules().find((r) => r.id === 8)!;
  assert.equal(tracker.appId, 3);
  assert.deepEqual(tracker.ports, { from: 443, to: 443 });
  assert.equal(tracker.remote.kind === 'address' && tracker.remote.text, '2001:db8::9');
  assert.equal(domains.nextExpiry(), T0 + 60_000);

  assert.equal(domains.expire(T0 + 60_000), true);
  assert.deepEqual(
    domains.addressRules().map((r) => r.id),
    [8],
  );
  assert.equal(domains.expire(T0 + 900_000), true);
  assert.deepEqual(domains.addressRules(), []);
  assert.equal(domains.nextExpiry(), null);
});

test('domain-rules: disabled and non-domain rules are ignored', () => {
  const names = new DnsNames();
  names.record([{ address: '1.1.1.1', family: 4, names: ['example.com'], ttl: 60 }], T0);
  const domains = new DomainRuleAddresses(names);
  domains.setRules(
    [
      domainRule(1, 'example.com', false, { enabled: false }),
      { ...domainRule(2, 'x', false), remote: { kind: 'any' } },
    ],
    T0,
  );
  assert.deepEqual(domains.addressRules(), []);
});

test('dns-names: a TTL is believed for a day at most', () => {
  const names = new DnsNames();
  const [entered] = names.record([{ address: '10.0.0.1', family: 4, names: ['long.test'], ttl: 0x7fffffff }], T0);
  assert.equal(entered!.expiresAt, T0 + MAX_TTL_SEC * 1000);
  assert.equal(clampTtl(0), MIN_TTL_SEC);
  assert.equal(clampTtl(600), 600);
  assert.equal(clampTtl(2 ** 31 - 1), 86_400);
});

test('domain-rules: a rule keeps its most recently answered addresses, up to its cap', () => {
  const names = new DnsNames();
  const domains = new DomainRuleAddresses(names, 3);
  domains.setRules([domainRule(5, 'many.test', true)], T0);
  const answer = (last: number, at: number) =>
    domains.learn(
      names.record([{ address: `10.9.0.${last}`, family: 4, names: [`h${last}.many.test`], ttl: 600 }], at),
    );
  const held = () => domains.list().map((a) => a.address);
  assert.equal(answer(1, T0), true);
  assert.equal(answer(2, T0 + 1), true);
  assert.equal(answer(3, T0 + 2), true);
  assert.equal(answer(1, T0 + 3), false, 'answered again: no kernel change, but now the most recent');
  assert.equal(answer(4, T0 + 4), true, 'a new one pushes out the least recently answered');
  assert.deepEqual(held(), ['10.9.0.3', '10.9.0.1', '10.9.0.4']);
  assert.equal(domains.size, 3);
  assert.equal(domains.addressRules().length, 3);
  for (let i = 10; i < 1000; i++) answer(i, T0 + i);
  assert.deepEqual(held(), ['10.9.0.997', '10.9.0.998', '10.9.0.999']);
  // Re-resolved from the names when the rules change: still the latest answers.
  domains.setRules([domainRule(5, 'many.test', true, { updatedAt: T0 + 5000 })], T0 + 5000);
  assert.deepEqual(held(), ['10.9.0.997', '10.9.0.998', '10.9.0.999']);
});

test('domain-rules: the default cap bounds a rule that resolves to ever more addresses', () => {
  const names = new DnsNames();
  const domains = new DomainRuleAddresses(names);
  domains.setRules([domainRule(5, 'cdn.test', true)], T0);
  for (let i = 0; i < 5000; i++)
    domains.learn(
      names.record([{ address: `10.8.${i >> 8}.${i & 255}`, family: 4, names: [`n${i}.cdn.test`], ttl: 600 }], T0 + i),
    );
  assert.equal(domains.size, MAX_ADDRESSES_PER_RULE);
  assert.equal(domains.list().at(-1)!.address, '10.8.19.135');
});
