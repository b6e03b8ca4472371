import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingQueries, type DnsExchange } from '../../../../main/helper/dns/pending-queries.js';

const query: DnsExchange = {
  socket: 41n,
  server: '192.0.2.53',
  serverPort: 53,
  id: 0x1234,
  question: { name: 'www.example.test', type: 1, class: 1 },
};

test('pending-queries: an answer matches its query once, on every part of the exchange', () => {
  const pending = new PendingQueries();
  pending.add(query, 0);
  const others: DnsExchange[] = [
    { ...query, socket: 42n },
    { ...query, server: '192.0.2.54' },
    { ...query, serverPort: 5353 },
    { ...query, id: 0x1235 },
    { ...query, question: { ...query.question, name: 'www.example.tes' } },
    { ...query, question: { ...query.question, type: 28 } },
    { ...query, question: { ...query.question, class: 3 } },
  ];
  for (const other of others)
    assert.equal(
      pending.take(other, 1),
      false,
      JSON.stringify(other, (_, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
  assert.equal(pending.size, 1, 'a mismatch consumes nothing');
  assert.equal(pending.take(query, 1), true);
  assert.equal(pending.take(query, 1), false, 'a second answer to the same query is not believed');
  assert.equal(pending.size, 0);
});

test('pending-queries: a query waits for its lifetime; a retry starts the wait anew', () => {
  const pending = new PendingQueries({ lifetimeMs: 1000 });
  pending.add(query, 0);
  assert.equal(pending.take(query, 1000), false, 'expired');
  assert.equal(pending.size, 0);
  pending.add(query, 2000);
  pending.add(query, 2900);
  assert.equal(pending.size, 1, 'a retry is one entry');
  assert.equal(pending.take(query, 3800), true, 'the retry counts from when it was sent');
});

test('pending-queries: each socket keeps its newest queries, the table its newest overall', () => {
  const pending = new PendingQueries({ capacity: 10, perSocket: 3 });
  for (let id = 0; id < 5; id++) pending.add({ ...query, id }, id);
  assert.equal(pending.size, 3);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((id) => pending.take({ ...query, id }, 10)),
    [false, false, true, true, true],
  );
  for (let socket = 0n; socket < 25n; socket++) pending.add({ ...query, socket }, 20);
  assert.equal(pending.size, 10);
  assert.equal(pending.take({ ...query, socket: 14n }, 21), false, 'the oldest went first');
  assert.equal(pending.take({ ...query, socket: 15n }, 21), true);
  assert.equal(pending.take({ ...query, socket: 24n }, 21), true);
});

test('pending-queries: a flood of distinct queries stays within capacity', () => {
  const pending = new PendingQueries();
  for (let i = 0; i < 100_000; i++) pending.add({ ...query, socket: BigInt(i % 5000), id: i & 0xffff }, 0);
  assert.equal(pending.size, 8192);
});
