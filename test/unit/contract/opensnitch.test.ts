// The OpenSnitch mapper: rule files written from OpenSnitch's documented format become Portcullis
// rules, or are reported with the file and why not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatOpenSnitchBundle,
  literalAlternatives,
  MAX_OPENSNITCH_FILE_BYTES,
  readOpenSnitchBundle,
  mapOpenSnitch,
  mapOpenSnitchFile,
  parseOpenSnitchBundle,
} from '../../../main/contract/opensnitch.js';
import { jsonErrorPlace } from '../../../main/contract/json-error.js';
import { formatPorts, formatRemote, type ParsedDraft } from '../../../main/contract/rules.js';
import { openSnitchRuleText, simple, type OpenSnitchOperator } from '../../support/opensnitch-rules.js';

const ruleFile = (name: string, operator: OpenSnitchOperator, extra: Record<string, unknown> = {}) => ({
  name: `${name}.json`,
  text: openSnitchRuleText(name, 'deny', operator, extra),
});

/** A draft as one line: what the rule says. */
const show = (draft: ParsedDraft) =>
  [
    draft.action,
    draft.app ?? 'any-app',
    formatRemote(draft.remote),
    formatPorts(draft.ports),
    draft.protocol,
    draft.direction,
    draft.enabled ? 'on' : 'off',
  ].join(' ');

function mapped(file: { name: string; text: string }): string[] {
  const result = mapOpenSnitchFile(file);
  assert.ok(result.ok, result.ok ? '' : result.reason);
  return result.rules.map(show);
}

function refused(file: { name: string; text: string }): string {
  const result = mapOpenSnitchFile(file);
  assert.ok(!result.ok, `expected a refusal, got ${result.ok ? result.rules.map(show).join('; ') : ''}`);
  return result.reason;
}

test('simple conditions: a host, an address, a network, an executable', () => {
  assert.deepEqual(mapped(ruleFile('deny-host', simple('dest.host', 'Tracker.Example.COM'))), [
    'block any-app tracker.example.com any any out on',
  ]);
  assert.deepEqual(mapped(ruleFile('allow-ip', simple('dest.ip', '2001:DB8:0::1'), { action: 'allow' })), [
    'allow any-app 2001:db8::1 any any out on',
  ]);
  // Go's ParseCIDR reads host bits as the network they are in.
  assert.deepEqual(
    mapped(ruleFile('lan', { type: 'network', operand: 'dest.network', data: '192.168.1.7/24' }, { action: 'reject' })),
    ['block any-app 192.168.1.0/24 any any out on'],
  );
  assert.deepEqual(
    mapped(
      ruleFile('chrome', simple('process.path', '/opt/google/chrome/chrome'), { action: 'allow', enabled: false }),
    ),
    ['allow /opt/google/chrome/chrome any any any out off'],
  );
  assert.deepEqual(mapped(ruleFile('everything', { type: 'simple', operand: 'true', data: '' })), [
    'block any-app any any any out on',
  ]);
});

test('a list is the AND of its conditions: one rule with app, remote, port and protocol', () => {
  const file = ruleFile('telnet', {
    type: 'list',
    operand: 'list',
    data: '',
    list: [
      simple('dest.ip', '1.1.0.1'),
      simple('dest.port', '23'),
      simple('protocol', 'TCP'),
      simple('process.path', '/usr/bin/telnet.netkit'),
    ],
  });
  assert.deepEqual(mapped(file), ['block /usr/bin/telnet.netkit 1.1.0.1 23 tcp out on']);
  const result = mapOpenSnitchFile(file);
  assert.ok(result.ok);
  assert.equal(result.rules[0]!.note, 'OpenSnitch: telnet');
});

test('a regular expression that only lists literals becomes one rule per literal', () => {
  assert.deepEqual(
    mapped(
      ruleFile('dns-ntp', {
        type: 'list',
        operand: 'list',
        list: [
          { type: 'regexp', operand: 'dest.port', data: '^(53|123)$' },
          { type: 'regexp', operand: 'dest.ip', data: '^(127\\.0\\.0\\.1|::1)$' },
        ],
      }),
    ),
    [
      'block any-app 127.0.0.1 53 any out on',
      'block any-app 127.0.0.1 123 any out on',
      'block any-app ::1 53 any out on',
      'block any-app ::1 123 any out on',
    ],
  );
  assert.deepEqual(literalAlternatives('(?i)^www\\.example\\.org$', true), ['www.example.org']);
  assert.equal(literalAlternatives('(?i)^www\\.example\\.org$', false), null);
  for (const pattern of ['.*\\.github.com', '^555[12345]$', '^(53|80)', '^/tmp/.*$', '^a\\d$', '^(a|)$'])
    assert.equal(literalAlternatives(pattern, false), null, pattern);
});

test('what Portcullis cannot express is reported with the reason, and nothing of that rule is kept', () => {
  const cases: Array<[ReturnType<typeof ruleFile>, RegExp]> = [
    [
      ruleFile('re', { type: 'regexp', operand: 'dest.host', data: '.*\\.github.com' }),
      /a regular expression on dest\.host/,
    ],
    [
      ruleFile('uid', { type: 'list', operand: 'list', list: [simple('dest.port', '22'), simple('user.id', '1000')] }),
      /user\.id matches a user/,
    ],
    [
      ruleFile('ads', { type: 'lists', operand: 'lists.domains', data: '/media/ads-list/' }),
      /reads the list files in \/media\/ads-list\/ .*portcullis import FILE/,
    ],
    [ruleFile('cmd', simple('process.command', 'wget -q x')), /command line and its arguments/],
    [ruleFile('once', simple('dest.ip', '10.0.0.1'), { duration: '5m' }), /a temporary rule \(duration "5m"\)/],
    [ruleFile('v6', simple('protocol', 'tcp6')), /IPv6 connections only/],
    [
      ruleFile('two', {
        type: 'list',
        operand: 'list',
        list: [simple('dest.ip', '10.0.0.1'), simple('dest.host', 'a.example')],
      }),
      /two conditions on the remote/,
    ],
    [
      ruleFile('icmp', { type: 'list', operand: 'list', list: [simple('protocol', 'icmp'), simple('dest.port', '7')] }),
      /ICMP has no ports/,
    ],
    [ruleFile('port', simple('dest.port', '70000')), /outside 1-65535/],
    [ruleFile('rel', simple('process.path', 'bin/app')), /not an absolute path/],
    [ruleFile('act', simple('dest.ip', '10.0.0.1'), { action: 'ask' }), /action "ask" is none of/],
    [ruleFile('iface', simple('iface.out', 'wlan0')), /network interface/],
  ];
  for (const [file, reason] of cases) assert.match(refused(file), reason, file.name);
});

test('a broken file names its line; the whole directory maps in name order with the skipped files named', () => {
  const broken = { name: '010-broken.json', text: '{\n  "name": "broken",\n  "action": deny\n}\n' };
  const result = mapOpenSnitchFile(broken);
  assert.ok(!result.ok);
  assert.equal(result.line, 3);
  assert.match(result.reason, /not valid JSON/);

  const mapping = mapOpenSnitch([
    ruleFile('002-deny-ip', simple('dest.ip', '10.0.0.2')),
    broken,
    ruleFile('001-deny-host', simple('dest.host', 'ads.example.com')),
    ruleFile('003-uid', simple('user.id', '0')),
  ]);
  assert.deepEqual([mapping.files, mapping.mapped], [4, 2]);
  assert.deepEqual((mapping.document.rules ?? []).map(show), [
    'block any-app ads.example.com any any out on',
    'block any-app 10.0.0.2 any any out on',
  ]);
  assert.deepEqual(
    mapping.skipped.map((skip) => [skip.file, skip.line, skip.text]),
    [
      ['003-uid.json', 0, '003-uid'],
      ['010-broken.json', 3, '010-broken.json'],
    ],
  );
});

test('the bundle carries file names and text; anything else is refused where it is wrong', () => {
  const files = [{ name: 'a.json', text: '{"x": 1}\n' }];
  const parsed = parseOpenSnitchBundle(formatOpenSnitchBundle(files));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, files);
  const bad = parseOpenSnitchBundle(
    JSON.stringify({ format: 'opensnitch-rules', files: [{ name: 'a\nb', text: '' }] }),
  );
  assert.ok(!bad.ok);
  assert.equal(bad.error.where, 'bundle.files[0].name');
  assert.ok(!parseOpenSnitchBundle('[').ok);
});

test('a file the client left unread for its size is skipped by name; a claimed size within the limit is refused', () => {
  const files = [
    { name: 'big.json', text: '', oversized: 5_000_000 },
    {
      name: 'ok.json',
      text: '{"name": "ok", "action": "deny", "operator": {"type": "simple", "operand": "dest.ip", "data": "192.0.2.1"}}',
    },
  ];
  const parsed = parseOpenSnitchBundle(formatOpenSnitchBundle(files));
  assert.ok(parsed.ok);
  const mapping = mapOpenSnitch(parsed.value);
  assert.equal(mapping.mapped, 1);
  assert.deepEqual(mapping.skipped, [
    {
      file: 'big.json',
      line: 0,
      text: 'big.json',
      reason: '5000000 bytes, more than the 1048576 a rule file may hold (OpenSnitch writes a few hundred); not read',
    },
  ]);
  const small = parseOpenSnitchBundle(
    JSON.stringify({ format: 'opensnitch-rules', files: [{ name: 'a.json', text: '', oversized: 10 }] }),
  );
  assert.ok(!small.ok);
  assert.equal(small.error.where, 'bundle.files[0].oversized');
});

test('a JSON syntax error is placed by line and column; valid JSON has no error place', () => {
  assert.deepEqual(jsonErrorPlace('{\n  "a": [1, 2,]\n}'), { line: 2, column: 14 });
  assert.deepEqual(jsonErrorPlace('{"a": "x\ny"}'), { line: 1, column: 9 });
  assert.deepEqual(jsonErrorPlace('{"a": 1} x'), { line: 1, column: 10 });
  assert.deepEqual(jsonErrorPlace(''), { line: 1, column: 1 });
  for (const text of ['{"a": [1, -2.5e3, true, false, null, "\\u00e9\\n"]}', ' [] ', '"x"', '0'])
    assert.equal(jsonErrorPlace(text), null, text);
});

test('a client reads each rule file into the bundle, except one over the limit, whose size alone is sent', async () => {
  const reads: string[] = [];
  const source = (name: string, size: number, text: string) => ({
    name,
    size,
    read: async () => {
      reads.push(name);
      return text;
    },
  });
  const bundle = await readOpenSnitchBundle([
    source('a.json', 9, '{"x": 1}\n'),
    source('at-limit.json', MAX_OPENSNITCH_FILE_BYTES, 'y'),
    source('huge.json', MAX_OPENSNITCH_FILE_BYTES + 1, 'never read'),
  ]);
  assert.deepEqual(reads, ['a.json', 'at-limit.json']);
  const parsed = parseOpenSnitchBundle(bundle);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, [
    { name: 'a.json', text: '{"x": 1}\n' },
    { name: 'at-limit.json', text: 'y' },
    { name: 'huge.json', text: '', oversized: MAX_OPENSNITCH_FILE_BYTES + 1 },
  ]);
});
