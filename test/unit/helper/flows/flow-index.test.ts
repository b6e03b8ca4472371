import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowIndex, InternedStrings, type FlowKeyColumns } from '../../../../main/helper/flows/flow-index.js';

const SLOTS = 70_000; // more than the 65536 keys pick() makes

function columns(): FlowKeyColumns {
  return {
    appId: new Uint32Array(SLOTS),
    addrId: new Uint32Array(SLOTS),
    remotePort: new Uint16Array(SLOTS),
    protocol: new Uint8Array(SLOTS),
    outbound: new Uint8Array(SLOTS),
  };
}

/** A small deterministic generator, so a failure reproduces. */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32;
}

test('flow index: random adds and removes (growing through rehashes) find what a Map of string keys finds', () => {
  const c = columns();
  const index = new FlowIndex(c);
  const reference = new Map<string, number>();
  const keyOf = (slot: number) =>
    `${c.appId[slot]}|${c.addrId[slot]}|${c.remotePort[slot]}|${c.protocol[slot]}|${c.outbound[slot]}`;
  const free: number[] = [];
  let used = 0;
  const random = lcg(7);
  // Narrow key ranges, so keys repeat and probe runs collide and wrap.
  const pick = () =>
    [
      Math.floor(random() * 4),
      Math.floor(random() * 32),
      1024 + Math.floor(random() * 64),
      Math.floor(random() * 4),
      Math.floor(random() * 2),
    ] as const;
  for (let step = 0; step < 60_000; step++) {
    const [appId, addrId, port, protocol, outbound] = pick();
    const key = `${appId}|${addrId}|${port}|${protocol}|${outbound}`;
    const found = index.find(appId, addrId, port, protocol, outbound);
    assert.equal(found, reference.get(key) ?? -1, `step ${step}: lookup of ${key}`);
    if (found === -1 && random() < 0.6) {
      const slot = free.pop() ?? used++;
      c.appId[slot] = appId;
      c.addrId[slot] = addrId;
      c.remotePort[slot] = port;
      c.protocol[slot] = protocol;
      c.outbound[slot] = outbound;
      index.insert(slot);
      reference.set(key, slot);
    } else if (found !== -1 && random() < 0.5) {
      index.remove(found);
      reference.delete(key);
      free.push(found);
    }
  }
  assert.ok(reference.size > 1000, 'the test reached a full table');
  assert.equal(index.size, reference.size);
  const visited = new Set<number>();
  index.forEach((slot) => visited.add(slot));
  assert.deepEqual(
    [...visited].sort((a, b) => a - b),
    [...reference.values()].sort((a, b) => a - b),
  );
  for (const slot of visited) assert.equal(reference.get(keyOf(slot)), slot);
});

test('interned strings: one id per text while it has users; ids are reused after the last one goes', () => {
  const strings = new InternedStrings();
  const a = strings.hold('10.0.0.1');
  assert.equal(strings.hold('10.0.0.1'), a);
  const b = strings.hold('::1');
  assert.notEqual(a, b);
  assert.equal(strings.text(b), '::1');
  strings.release(a);
  assert.equal(strings.idOf('10.0.0.1'), a, 'one user is left');
  strings.release(a);
  assert.equal(strings.idOf('10.0.0.1'), -1);
  assert.equal(strings.size, 1);
  assert.equal(strings.hold('192.0.2.1'), a, 'the freed id is reused');
});
