import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDuration,
  parsePorts,
  parseRemote,
  parseRuleDraft,
  formatRemote,
  patchTerms,
  rulePatchSchema,
  type RuleDraft,
  type RuleTerms,
} from '../../../main/contract/rules.js';

const NOW = 1_800_000_000_000;

test('ports: single, range, any; bad ones say why', () => {
  assert.deepEqual(parsePorts('443'), { ok: true, value: { from: 443, to: 443 } });
  assert.deepEqual(parsePorts('8000-8100'), { ok: true, value: { from: 8000, to: 8100 } });
  assert.deepEqual(parsePorts(null), { ok: true, value: null });
  for (const [input, reason] of [
    ['0', /outside 1-65535/],
    ['65536', /outside 1-65535/],
    ['a-b', /not a number/],
    ['90-80', /backwards/],
    ['-5', /not a number/],
  ] as const) {
    const parsed = parsePorts(input, 'port');
    assert.equal(parsed.ok, false, input);
    if (!parsed.ok) assert.match(parsed.error.message, reason, input);
  }
});

test('durations', () => {
  assert.deepEqual(parseDuration('90s'), { ok: true, value: 90_000 });
  assert.deepEqual(parseDuration('2h'), { ok: true, value: 7_200_000 });
  for (const bad of ['10', 'm', '1.5h', '-1m', '0s', '10y', '9999d']) assert.equal(parseDuration(bad).ok, false, bad);
});

test('remotes: any, address, CIDR, mapped address, domain, wildcard domain', () => {
  const remote = (text: string) => {
    const parsed = parseRemote(text);
    assert.ok(parsed.ok, text);
    return parsed.value;
  };
  assert.deepEqual(remote('any'), { kind: 'any' });
  assert.equal(formatRemote(remote('127.0.0.2')), '127.0.0.2');
  assert.equal(formatRemote(remote('2001:DB8::/32')), '2001:db8::/32');
  assert.equal(formatRemote(remote('::ffff:127.0.0.9')), '127.0.0.9');
  assert.deepEqual(remote('*.Example.com'), { kind: 'domain', name: 'example.com', subdomains: true });
  assert.equal(parseRemote('1.2.3').ok, false);
});

test('a draft becomes a spec with defaults; expiry comes from the given clock', () => {
  const parsed = parseRuleDraft(
    { action: 'block', remote: '10.0.0.0/8', port: '443', protocol: 'tcp', for: '10m' },
    NOW,
  );
  assert.ok(parsed.ok);
  assert.equal(parsed.value.direction, 'both');
  assert.equal(parsed.value.expiresAt, NOW + 600_000);
  assert.deepEqual(parsed.value.ports, { from: 443, to: 443 });
  assert.equal(parsed.value.app, null);
});

test('draft errors name the field', () => {
  const cases: Array<[unknown, string, RegExp]> = [
    [{ action: 'deny' }, 'rule.action', /one of block, allow/],
    [{ action: 'block', protocol: 'sctp' }, 'rule.protocol', /one of any, tcp, udp, icmp/],
    [{ action: 'block', direction: 'sideways' }, 'rule.direction', /one of out, in, both/],
    [{ action: 'block', remote: '1.2.3.256' }, 'rule.remote', /more than 255/],
    [{ action: 'block', port: 0 }, 'rule.port', /outside/],
    [{ action: 'block', protocol: 'icmp', port: 80 }, 'rule.port', /ICMP has no ports/],
    [{ action: 'block', for: 'soon' }, 'rule.for', /not a duration/],
    [{ action: 'block', app: 'relative/path' }, 'rule.app', /absolute executable path/],
    [{ action: 'block', colour: 'red' }, 'rule.colour', /not a known field/],
    ['block', 'rule', /must be an object/],
  ];
  for (const [input, where, reason] of cases) {
    const parsed = parseRuleDraft(input, NOW);
    assert.equal(parsed.ok, false, JSON.stringify(input));
    if (!parsed.ok) {
      assert.equal(parsed.error.where, where, JSON.stringify(input));
      assert.match(parsed.error.message, reason, JSON.stringify(input));
    }
  }
});

test('a patch changes only what it names and is checked against the rule it changes', () => {
  const rule: RuleTerms = {
    action: 'block',
    remote: { kind: 'any' },
    ports: { from: 443, to: 443 },
    protocol: 'tcp',
    direction: 'out',
    expiresAt: NOW + 60_000,
    note: 'kept',
    enabled: true,
  };
  const patched = (patch: Partial<RuleDraft>, now = NOW) => {
    const parsed = rulePatchSchema.parse(patch, 'patch');
    assert.ok(parsed.ok, JSON.stringify(parsed));
    return patchTerms(rule, parsed.value, now);
  };
  assert.deepEqual(patched({ enabled: false }), { ok: true, value: { ...rule, enabled: false } });
  assert.deepEqual(patched({ port: null, protocol: 'icmp' }), {
    ok: true,
    value: { ...rule, ports: null, protocol: 'icmp' },
  });
  // A new duration replaces the absolute expiry; null makes the rule permanent.
  const expiresAt = (patch: Partial<RuleDraft>) => {
    const result = patched(patch);
    assert.ok(result.ok);
    return result.value.expiresAt;
  };
  assert.equal(expiresAt({ for: '2h' }), NOW + 7_200_000);
  assert.equal(expiresAt({ expiresAt: null }), null);
  // Checked with the rule's own fields: ports it has and a protocol the patch brings.
  assert.deepEqual(patched({ protocol: 'icmp' }), {
    ok: false,
    error: { where: 'port', message: 'ICMP has no ports: drop the port or choose tcp/udp' },
  });
  // A rule whose expiry passed (its removal not yet run) is not edited back to life by a patch that keeps it.
  assert.deepEqual(patched({ note: 'late' }, NOW + 60_000), {
    ok: false,
    error: { where: 'expiresAt', message: 'is in the past' },
  });
  const both = rulePatchSchema.parse({ for: '1h', expiresAt: NOW + 1 }, 'patch');
  assert.deepEqual(both.ok ? null : both.error.where, 'patch.for');
});
