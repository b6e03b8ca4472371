import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DecisionEvent } from '../../../../native/api.js';
import { DnsNames, MAX_TTL_SEC } from '../../../../main/helper/dns/dns-names.js';
import { DnsObserver } from '../../../../main/helper/dns/dns-observer.js';
import type { ResolvedAddress } from '../../../../main/helper/dns/dns-names.js';
import { encodeName, message, record } from '../../../support/dns-wire.js';

const T0 = 1_700_000_000_000;

/** A DNS event as the kernel reports it: socket 7 talking to the resolver at 192.0.2.53:53. */
function dnsEvent(kind: 'dns' | 'dns-query', payload: Uint8Array, extra: Partial<DecisionEvent> = {}): DecisionEvent {
  return {
    kind,
    timeNs: 5_000_000_000n,
    tgid: 100,
    uid: 1000,
    comm: 'browser',
    cgroupId: 1n,
    exe: null,
    appId: 0,
    socketCookie: 7n,
    family: 4,
    protocol: 'udp',
    direction: 'out',
    localAddr: '192.0.2.10',
    localPort: 40000,
    remoteAddr: '192.0.2.53',
    remotePort: 53,
    verdict: 'allow',
    ruleId: 0,
    bytesOut: 0n,
    bytesIn: 0n,
    packetsOut: 0n,
    packetsIn: 0n,
    dnsPayload: payload,
    ...extra,
  };
}

const ask = (name: string, id = 0x4242, type = 1) =>
  dnsEvent('dns-query', message({ id, flags: 0x0100, questions: [name], answers: [], type }));
const answer = (name: string, address: number[], options: { id?: number; ttl?: number } = {}, extra = {}) =>
  dnsEvent(
    'dns',
    message({
      id: options.id ?? 0x4242,
      questions: [name],
      answers: [record({ pointer: 12 }, 1, options.ttl ?? 300, address)],
    }),
    extra,
  );

function observer() {
  const names = new DnsNames();
  const learned: ResolvedAddress[][] = [];
  return { names, learned, dns: new DnsObserver(names, (resolved) => learned.push(resolved)) };
}

test('dns-observer: an answer to a query of the same socket is learned, once', () => {
  const { names, learned, dns } = observer();
  dns.observe(ask('www.example.test'), T0);
  assert.equal(dns.observe(answer('www.example.test', [10, 0, 0, 7]), T0).length, 1);
  assert.equal(names.nameOf('10.0.0.7', T0), 'www.example.test');
  assert.equal(learned.length, 1);
  assert.equal(dns.observe(answer('www.example.test', [10, 0, 0, 8]), T0).length, 0, 'the query was answered already');
  assert.equal(names.nameOf('10.0.0.8', T0), null);
  assert.deepEqual(dns.counts, { queries: 1, answersLearned: 1, answersUnmatched: 1, malformed: 0 });
});

test('dns-observer: answers nobody asked for, or that differ from the question in any part, are ignored', () => {
  const { names, learned, dns } = observer();
  dns.observe(answer('unasked.test', [6, 6, 6, 6]), T0);
  dns.observe(ask('asked.test'), T0);
  const forged = [
    answer('asked.test', [6, 6, 6, 1], {}, { socketCookie: 8n }),
    answer('asked.test', [6, 6, 6, 2], {}, { remoteAddr: '198.51.100.1' }),
    answer('asked.test', [6, 6, 6, 3], {}, { remotePort: 5353 }),
    answer('asked.test', [6, 6, 6, 4], { id: 0x4243 }),
    answer('other.test', [6, 6, 6, 5]),
  ];
  for (const event of forged) assert.deepEqual(dns.observe(event, T0), []);
  assert.equal(names.size, 0);
  assert.equal(learned.length, 0);
  assert.equal(dns.counts.answersUnmatched, 6);
  assert.equal(dns.pending.size, 1, 'the real answer may still come');
  assert.equal(dns.observe(answer('asked.test', [1, 2, 3, 4]), T0).length, 1);
});

test('dns-observer: a matched answer teaches only its question and chain; its TTL is clamped to a day', () => {
  const { names, dns } = observer();
  dns.observe(ask('www.shop.test'), T0);
  const reply = message({
    id: 0x4242,
    questions: ['www.shop.test'],
    answers: [
      record({ pointer: 12 }, 5, 0x7fffffff, encodeName('edge.cdn.test')),
      record('edge.cdn.test', 1, 0x7fffffff, [10, 0, 0, 9]),
      record('bank.test', 1, 600, [10, 0, 0, 66]),
    ],
  });
  const resolved = dns.observe(dnsEvent('dns', reply), T0);
  assert.deepEqual(
    resolved.map((r) => [r.name, r.address, r.expiresAt]),
    [
      ['www.shop.test', '10.0.0.9', T0 + MAX_TTL_SEC * 1000],
      ['edge.cdn.test', '10.0.0.9', T0 + MAX_TTL_SEC * 1000],
    ],
  );
  assert.equal(names.nameOf('10.0.0.66', T0), null, 'a record about another name rides along unbelieved');
});

test('dns-observer: a flood of 100k distinct unsolicited answers leaves nothing behind', () => {
  const { names, learned, dns } = observer();
  dns.observe(ask('real.test'), T0);
  for (let i = 0; i < 100_000; i++)
    dns.observe(answer(`f${i}.flood.test`, [10, (i >> 16) & 255, (i >> 8) & 255, i & 255], { id: i & 0xffff }), T0);
  assert.equal(names.size, 0);
  assert.equal(learned.length, 0);
  assert.equal(dns.pending.size, 1);
  assert.equal(dns.counts.answersUnmatched, 100_000);
  assert.equal(dns.observe(answer('real.test', [10, 1, 1, 1]), T0).length, 1, 'the real answer still counts');
});

test('dns-observer: malformed captures are counted, not thrown', () => {
  const { dns } = observer();
  dns.observe(ask('a.test'), T0); // the socket waits: its answers are parsed
  dns.observe(dnsEvent('dns-query', new Uint8Array(3)), T0);
  dns.observe(dnsEvent('dns', Uint8Array.from([0, 0, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 200, 0, 1, 0, 1])), T0);
  dns.observe(dnsEvent('dns-query', message({ flags: 0x8180, questions: ['a.test'], answers: [] })), T0);
  assert.equal(dns.counts.malformed, 3);
});
