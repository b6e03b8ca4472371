// 20 clients change rules at once; afterwards the store and the kernel agree. The kernel side is
// read by its behaviour: every address ever used is probed from the test cgroup, and it must be
// blocked exactly when the store holds an enabled block rule for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeConnect } from '../support/connect-probe.js';

const CLIENTS = 20;
const ADDS_PER_CLIENT = 4;

test('20 clients adding, disabling, re-enabling and removing rules at once: store and kernel agree', () =>
  withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const clients = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => helper.client(`client-${i}`)));
    const addressOf = (client: number, n: number) => `127.50.${client}.${n + 1}`;
    const addresses: string[] = [];

    await Promise.all(
      clients.map(async (client, c) => {
        const ids: number[] = [];
        for (let n = 0; n < ADDS_PER_CLIENT; n++) {
          addresses.push(addressOf(c, n));
          ids.push(
            (
              await client.call('rules.add', {
                rule: { action: 'block', remote: addressOf(c, n), note: `client ${c}` },
              })
            ).id,
          );
        }
        // Each client leaves a different mix: rule 0 removed, rule 1 disabled, rule 2 disabled then
        // enabled again, rule 3 as added; every fifth client also removes everything it made.
        await client.call('rules.remove', { ids: [ids[0]!] });
        await client.call('rules.update', { id: ids[1]!, patch: { enabled: false } });
        await client.call('rules.update', { id: ids[2]!, patch: { enabled: false } });
        await client.call('rules.update', { id: ids[2]!, patch: { enabled: true, port: null } });
        if (c % 5 === 0) await client.call('rules.remove', { ids });
      }),
    );

    const rules = await clients[0]!.call('rules.list');
    const blockedInStore = new Set(
      rules.filter((r) => r.enabled && r.remote.kind === 'address').map((r) => (r.remote as { text: string }).text),
    );
    assert.equal(rules.length, CLIENTS * 3 - (CLIENTS / 5) * 3, 'rules left in the store');
    assert.equal(blockedInStore.size, CLIENTS * 2 - (CLIENTS / 5) * 2);
    assert.equal((await clients[1]!.call('status')).ruleCount, rules.length);

    const results = await probeConnect(
      sandbox,
      helper.paths.cgroup,
      addresses.map((host) => ({ host, port: 9 })),
    );
    const disagreements = addresses
      .filter((address, i) => (results[i] === 'EPERM') !== blockedInStore.has(address))
      .map(
        (address) =>
          `${address}: kernel ${results[addresses.indexOf(address)]}, store ${blockedInStore.has(address) ? 'blocked' : 'not blocked'}`,
      );
    assert.deepEqual(disagreements, []);
  }));
