import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp, parseIp, parsePrefix, parseDomain, unmapIpv4 } from '../../../main/contract/net.js';

const bytesOf = (text: string) => {
  const parsed = parseIp(text);
  assert.ok(parsed.ok, `${text} should parse`);
  return Array.from(parsed.value.bytes);
};

test('IPv4 parses to network-order bytes', () => {
  assert.deepEqual(bytesOf('192.168.1.2'), [192, 168, 1, 2]);
  assert.deepEqual(bytesOf('0.0.0.0'), [0, 0, 0, 0]);
});

test('IPv4 mistakes are refused with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['1.2.3', /four numbers/],
    ['1.2.3.256', /more than 255/],
    ['01.2.3.4', /leading zero/],
    ['1.2.3.4.5', /four numbers/],
    ['1.2.3.x', /not a decimal/],
    ['1..3.4', /not a decimal/],
  ];
  for (const [text, reason] of cases) {
    const parsed = parseIp(text, 'params.remote');
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) {
      assert.match(parsed.error.message, reason, text);
      assert.equal(parsed.error.where, 'params.remote');
    }
  }
});

test('IPv6 parses compressed, full and embedded-IPv4 forms', () => {
  assert.deepEqual(bytesOf('::1'), [...new Array(15).fill(0), 1]);
  assert.deepEqual(bytesOf('2001:db8::ff00:42:8329').slice(0, 4), [0x20, 0x01, 0x0d, 0xb8]);
  assert.deepEqual(bytesOf('::ffff:10.1.2.3').slice(10), [0xff, 0xff, 10, 1, 2, 3]);
  assert.deepEqual(bytesOf('1:2:3:4:5:6:7:8').slice(14), [0, 8]);
});

test('IPv6 mistakes are refused', () => {
  for (const text of [
    '::g',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '12345::',
    'fe80::1%eth0',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7',
  ]) {
    assert.equal(parseIp(text).ok, false, text);
  }
});

test('formatIp gives RFC 5952 text', () => {
  const format = (text: string) => {
    const parsed = parseIp(text);
    assert.ok(parsed.ok);
    return formatIp(parsed.value);
  };
  assert.equal(format('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(format('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  assert.equal(format('::'), '::');
  assert.equal(format('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
});

test('CIDR prefix lengths are checked per family, and host bits must be zero', () => {
  assert.equal(parsePrefix('10.0.0.0/8').ok, true);
  assert.equal(parsePrefix('0.0.0.0/0').ok, true);
  assert.equal(parsePrefix('::/0').ok, true);
  for (const [text, reason] of [
    ['10.0.0.0/33', /more than 32/],
    ['::/129', /more than 128/],
    ['10.0.0.0/-1', /whole number/],
    ['10.0.0.0/', /whole number/],
    ['10.0.0.1/8', /did you mean 10\.0\.0\.0\/8/],
  ] as const) {
    const parsed = parsePrefix(text);
    assert.equal(parsed.ok, false, text);
    if (!parsed.ok) assert.match(parsed.error.message, reason, text);
  }
});

test('v4-mapped IPv6 prefixes become IPv4', () => {
  const parsed = parsePrefix('::ffff:10.0.0.0/104');
  assert.ok(parsed.ok);
  const unmapped = unmapIpv4(parsed.value);
  assert.equal(unmapped.family, 4);
  assert.equal(unmapped.prefixLen, 8);
  assert.deepEqual(Array.from(unmapped.bytes), [10, 0, 0, 0]);
});

test('domains', () => {
  const good = parseDomain('Ads.Example.COM.');
  assert.ok(good.ok);
  assert.equal(good.value, 'ads.example.com');
  for (const text of ['localhost', '-bad.com', 'bad-.com', 'a..b', 'x'.repeat(64) + '.com', 'exa mple.com', '1.2.3']) {
    assert.equal(parseDomain(text).ok, false, text);
  }
});
