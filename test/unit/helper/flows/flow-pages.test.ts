import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Flow } from '../../../../main/contract/index.js';
import { FlowPages, type PageAsker } from '../../../../main/helper/flows/flow-pages.js';
import type { FlowQuery } from '../../../../main/helper/flows/flows-store.js';

function flows(count: number): Flow[] {
  return Array.from({ length: count }, (_, i) => ({
    appId: 1,
    remoteAddr: `10.0.${i >> 8}.${i & 255}`,
    remoteName: null,
    remotePort: 443,
    protocol: 'tcp',
    direction: 'out',
    firstSeen: i,
    lastSeen: 10_000 - i,
    bytesOut: i,
    bytesIn: 0,
    packetsOut: 1,
    packetsIn: 0,
    allowed: 1,
    blocked: 0,
    lastVerdict: 'allow',
    lastRuleId: null,
  }));
}

class Asker implements PageAsker {
  private readonly closers: Array<() => void> = [];
  constructor(readonly id: number) {}
  onClose(listener: () => void): void {
    this.closers.push(listener);
  }
  close(): void {
    for (const closer of this.closers) closer();
  }
}

test('pages cover the result once, in order, from one query; a short result comes whole', async () => {
  const all = flows(25);
  const queries: FlowQuery[] = [];
  const pages = new FlowPages(async (query) => {
    queries.push(query);
    return all;
  });
  const asker = new Asker(1);
  let page = await pages.first(asker, { app: 1 }, 10);
  const seen = [...page.flows];
  assert.equal(page.total, 25);
  while (page.cursor) {
    page = pages.next(asker, page.cursor, 10);
    seen.push(...page.flows);
  }
  assert.deepEqual(seen, all);
  assert.deepEqual(queries, [{ app: 1 }]);
  assert.equal(pages.held, 0, 'the result is let go after its last page');
  assert.deepEqual(await pages.first(asker, {}, 100), { flows: all, total: 25, cursor: null });
});

test("a cursor is its connection's alone, used once, forgotten when the connection closes or after a minute idle", async () => {
  let now = 0;
  const pages = new FlowPages(
    async () => flows(30),
    () => now,
  );
  const mine = new Asker(1);
  const other = new Asker(2);
  const first = await pages.first(mine, {}, 10);
  assert.throws(() => pages.next(other, first.cursor!, 10), /unknown or expired/);
  const second = pages.next(mine, first.cursor!, 10);
  assert.throws(() => pages.next(mine, first.cursor!, 10), /unknown or expired/, 'a cursor serves one page');
  now += 61_000;
  assert.throws(() => pages.next(mine, second.cursor!, 10), /unknown or expired/);
  const again = await pages.first(mine, {}, 10);
  mine.close();
  assert.throws(() => pages.next(mine, again.cursor!, 10), /unknown or expired/);
  assert.equal(pages.held, 0);
});

test('a connection holds at most two results: a third list drops its oldest', async () => {
  const pages = new FlowPages(async () => flows(30));
  const asker = new Asker(1);
  const a = await pages.first(asker, {}, 10);
  const b = await pages.first(asker, {}, 10);
  const c = await pages.first(asker, {}, 10);
  assert.throws(() => pages.next(asker, a.cursor!, 10), /unknown or expired/);
  assert.equal(pages.next(asker, b.cursor!, 10).flows.length, 10);
  assert.equal(pages.next(asker, c.cursor!, 10).flows.length, 10);
});
