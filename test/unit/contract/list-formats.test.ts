// The list parser: every format, lines split across chunks, skipped lines with numbers and reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListParser, MAX_SKIPPED_KEPT, isCanonicalIpv4, parseList } from '../../../main/contract/list-formats.js';
import { listNameFromSource } from '../../../main/contract/lists.js';

test('canonical dotted quads are recognised without a general parse; anything else is not', () => {
  for (const text of ['0.0.0.0', '1.2.3.4', '255.255.255.255', '10.200.30.4'])
    assert.equal(isCanonicalIpv4(text), true, text);
  for (const text of ['01.2.3.4', '1.2.3', '1.2.3.4.5', '1.2.3.256', '1..3.4', '1.2.3.4/32', ' 1.2.3.4', 'a.b.c.d', ''])
    assert.equal(isCanonicalIpv4(text), false, text);
});

test('auto: hosts lines, plain addresses, CIDRs, domains and AdBlock filters, with reasons for the rest', () => {
  const text = [
    '# a comment',
    '0.0.0.0 ads.example.com tracker.example.net # inline comment',
    '127.0.0.1 localhost',
    '10.9.0.0/16',
    '2001:DB8::1',
    'not a valid line here',
    '1.2.3.999',
    '||ads.example.org^',
    '! AdBlock comment',
    '[Adblock Plus 2.0]',
    '@@||good.example^',
    '||x.example^$third-party',
    'example.com##.banner',
    '192.168.1.10 printer.lan',
    '10.1.2.3/8',
    '  ',
    '*.wild.example',
    '||203.0.113.7^',
    'any',
  ].join('\r\n');
  const parsed = parseList(text);
  assert.deepEqual(parsed.entries, [
    'ads.example.com',
    'tracker.example.net',
    '10.9.0.0/16',
    '2001:db8::1',
    '*.ads.example.org',
    '*.wild.example',
    '203.0.113.7',
  ]);
  assert.equal(parsed.lines, 19);
  const reasons = new Map(parsed.skipped.map((s) => [s.line, s.reason]));
  assert.deepEqual([...reasons.keys()], [3, 6, 7, 11, 12, 13, 14, 15, 19]);
  assert.match(reasons.get(3)!, /this machine/);
  assert.match(reasons.get(6)!, /one entry per line/);
  assert.match(reasons.get(7)!, /more than 255/);
  assert.match(reasons.get(11)!, /exception/);
  assert.match(reasons.get(12)!, /options \(\$third-party\)/);
  assert.match(reasons.get(13)!, /element-hiding/);
  assert.match(reasons.get(14)!, /maps names to 192\.168\.1\.10/);
  assert.match(reasons.get(15)!, /host bits set.*10\.0\.0\.0\/8/);
  assert.match(reasons.get(19)!, /match everything/);
  assert.equal(parsed.skippedCount, 9);
});

test('a named format takes only its own lines and says which format the others need', () => {
  const text = ['0.0.0.0 a.example', 'b.example', '10.0.0.0/8', '||c.example^', '2001:db8::/32'].join('\n');
  const cidr = parseList(text, 'cidr');
  assert.deepEqual(cidr.entries, ['10.0.0.0/8', '2001:db8::/32']);
  assert.deepEqual(
    cidr.skipped.map((s) => [s.line, s.reason.match(/--format \w+/)?.[0]]),
    [
      [1, '--format hosts'],
      [2, '--format plain'],
      [4, '--format adblock'],
    ],
  );
  assert.deepEqual(parseList(text, 'domains').entries, ['a.example', 'b.example']);
  assert.deepEqual(parseList(text, 'hosts').entries, ['a.example']);
  assert.deepEqual(parseList(text, 'adblock').entries, ['*.c.example']);
  const plain = parseList(text, 'plain');
  assert.deepEqual(plain.entries, ['b.example', '10.0.0.0/8', '2001:db8::/32']);
  assert.match(parseList('0.0.0.0 1.2.3.4', 'hosts').skipped[0]!.reason, /address where a domain/);
  assert.match(parseList('1.2.3.4', 'domains').skipped[0]!.reason, /address where a domain/);
  assert.match(parseList('||a.example/ads^', 'adblock').skipped[0]!.reason, /wildcard or path/);
  assert.match(parseList('||a.example^/ads', 'adblock').skipped[0]!.reason, /path under the domain/);
  assert.match(parseList('/banner/*', 'adblock').skipped[0]!.reason, /not a "\|\|domain\^" filter/);
});

test('chunks may split lines anywhere; line numbers run on; a last line without a newline counts', () => {
  const text = '1.2.3.4\n5.6.7.8\nbad line here\r\n10.0.0.0/8\nexample.com';
  for (let size = 1; size <= text.length; size++) {
    const parser = new ListParser();
    for (let at = 0; at < text.length; at += size) parser.push(text.slice(at, at + size));
    parser.end();
    assert.deepEqual(parser.entries, ['1.2.3.4', '5.6.7.8', '10.0.0.0/8', 'example.com'], `chunks of ${size}`);
    assert.deepEqual(
      parser.skipped.map((s) => s.line),
      [3],
    );
    assert.equal(parser.lines, 5);
  }
});

test('a broken list keeps its first skipped lines and counts the rest', () => {
  const parser = new ListParser('plain');
  parser.push('x\n'.repeat(MAX_SKIPPED_KEPT + 500));
  parser.end();
  assert.equal(parser.skipped.length, MAX_SKIPPED_KEPT);
  assert.equal(parser.skippedCount, MAX_SKIPPED_KEPT + 500);
  assert.equal(parser.skipped.at(-1)!.line, MAX_SKIPPED_KEPT);
  const long = parseList(`${'a'.repeat(500)} b c`).skipped[0]!;
  assert.ok(long.text.length <= 201, 'a long line is cut');
});

test('a list is named after its file or its URL', () => {
  assert.equal(listNameFromSource('/home/me/lists/firehol_level1.netset'), 'firehol_level1.netset');
  assert.equal(listNameFromSource('https://example.org/lists/ads.txt?x=1'), 'example.org/lists/ads.txt');
  assert.equal(listNameFromSource('https://example.org/'), 'example.org');
  assert.equal(listNameFromSource('stdin'), 'stdin');
});
