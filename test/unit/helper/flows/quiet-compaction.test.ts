import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startQuietCompaction } from '../../../../main/helper/flows/quiet-compaction.js';
import { eventually } from '../../../support/eventually.js';

test('quiet compaction: collects and trims once the work stops (or slows to a trickle), not while it goes on', async () => {
  let work = 0;
  let trims = 0;
  const logs: string[] = [];
  const stop = startQuietCompaction({
    work: () => work,
    everyMs: 40,
    growthBytes: 1024 * 1024,
    quietWork: 5,
    trimNativeHeap: () => {
      trims++;
    },
    log: (m) => logs.push(m),
  });
  try {
    // A burst: the heap grows by tens of MiB while the work count climbs fast.
    let held: Array<{ n: number; text: string }> | null = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 30_000; i++) held.push({ n: i, text: `flow ${round} ${i}` });
      work += 1000;
      await sleep(25);
    }
    assert.equal(trims, 0, 'nothing is collected while the work goes on');
    held = null;
    // A trickle below quietWork per interval counts as quiet.
    const trickle = setInterval(() => {
      work++;
    }, 20);
    try {
      await eventually(
        () => trims,
        (n) => n > 0,
        'a collection once the burst is over',
        { everyMs: 40 },
      );
    } finally {
      clearInterval(trickle);
    }
    assert.equal(trims, 1, 'one collection and trim after the burst');
    assert.match(logs.join('\n'), /quiet after a burst: collected, heap and its buffers \d+ -> \d+ MiB/);
    await sleep(200);
    assert.equal(trims, 1, 'no more while nothing grows');
  } finally {
    stop();
  }
});
