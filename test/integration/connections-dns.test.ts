// Names come from the DNS answers applications actually received (captured by the kernel hooks,
// parsed by the helper): flows carry the name the app asked for, and a domain rule blocks the
// addresses its names resolved to — including names reached through a CNAME chain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeConnect } from '../support/connect-probe.js';
import { PEER_SCRIPT, SYSTEM_PYTHON, TRAFFIC_SCRIPT, randomPort } from './connections-rig.js';
import { domainAddresses, dnsStatus, firstLine, runApp, startResolver } from './dns-rig.js';
import { eventually, present } from '../support/eventually.js';
import type { Flow } from '../../main/contract/index.js';

test('connections DNS: flows carry resolved names; domain rules block resolved addresses, CNAME chains included', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const host = sandbox.makeTestHost(1);
    // The resolver on the host side of the veth (the test's own address); it answers with the test host behind it.
    await startResolver(sandbox, host.host4, host.peer4);
    const port = randomPort();
    await firstLine(sandbox.spawnInNetns(host.netns, [SYSTEM_PYTHON, PEER_SCRIPT, host.peer4, String(port)]), 'peer');
    const appExe = join(sandbox.makeTempDir('dns-app'), 'browser');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const resolveConnect = (name: string, waitMs = 300) =>
      runApp(sandbox, helper.paths.cgroup, [
        appExe,
        TRAFFIC_SCRIPT,
        'resolve-connect',
        host.host4,
        '53',
        name,
        String(port),
        '100000',
        String(waitMs),
      ]);
    const plainConnect = () =>
      runApp(sandbox, helper.paths.cgroup, [appExe, TRAFFIC_SCRIPT, 'tcp-download', host.peer4, String(port), '1000']);

    // 1. The flow is named after what the app asked for.
    const first = await resolveConnect('www.example.test');
    assert.deepEqual([first.resolved, first.outcome], [host.peer4, 'ok'], JSON.stringify(first));
    const named = await eventually(
      async () =>
        (JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[]).find(
          (f) => f.remoteAddr === host.peer4 && f.remotePort === port,
        ),
      present,
      'the flow recorded',
      { everyMs: 100 },
    );
    assert.equal(named.remoteName, 'www.example.test');
    const dnsFlow = (JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[]).find(
      (f) => f.remotePort === 53,
    );
    assert.equal(dnsFlow?.protocol, 'udp', 'the DNS query itself is a flow of the app');

    // 2. Blocking the domain (and names under it) blocks what they already resolved to, at once.
    const blocked = await helper.cli(['block', '*.example.test', '--json']);
    assert.equal(blocked.code, 0, blocked.stderr);
    const ruleId = (JSON.parse(blocked.stdout) as { id: number }).id;
    assert.equal((await plainConnect()).exit, 1, 'a connect to the resolved address is refused');
    const again = await resolveConnect('api.example.test');
    assert.equal(again.outcome, 'EPERM', JSON.stringify(again));
    const blockedFlows = JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[];
    assert.ok(
      blockedFlows.some((f) => f.remoteAddr === host.peer4 && f.blocked > 0 && f.lastRuleId === ruleId),
      JSON.stringify(blockedFlows),
    );

    // 3. Unblocking restores it.
    assert.equal((await helper.cli(['unblock', String(ruleId)])).code, 0);
    assert.equal((await plainConnect()).exit, undefined, 'connects again after unblock');

    // 4. A rule for a CDN name: nothing is blocked until an answer leads there through a CNAME.
    assert.equal((await helper.cli(['block', 'edge.cdn-shop.test'])).code, 0);
    assert.equal((await plainConnect()).exit, undefined, 'no answer named edge.cdn-shop.test yet');
    const viaAlias = await resolveConnect('alias.shop.test');
    assert.deepEqual([viaAlias.resolved, viaAlias.outcome], [host.peer4, 'EPERM'], JSON.stringify(viaAlias));
  });
});

test('connections DNS: an answer is believed for a day at most, and a domain rule keeps its 256 latest addresses', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const host = sandbox.makeTestHost(1);
    await startResolver(sandbox, host.host4, host.peer4);
    const blocked = await helper.cli(['block', '*.cap.test', '--json']);
    assert.equal(blocked.code, 0, blocked.stderr);
    const ruleId = (JSON.parse(blocked.stdout) as { id: number }).id;
    const resolve = (...names: string[]) =>
      runApp(sandbox, helper.paths.cgroup, [SYSTEM_PYTHON, TRAFFIC_SCRIPT, 'resolve', host.host4, '53', ...names]);

    // A TTL of 2^31 - 1 s on the wire stands for one day.
    assert.deepEqual((await resolve('forever.cap.test')).answers, [1]);
    const [forever] = await eventually(
      () => domainAddresses(helper, ruleId),
      (held) => held.length === 1,
      'the one address of forever.cap.test learned',
    );
    assert.equal(forever?.address, host.peer4);
    assert.equal(forever!.expiresAt - forever!.answeredAt, 86_400_000, 'clamped to a day');

    // 11 answers of 25 addresses each (127.77.N.1-25): 276 for one rule, which keeps the 256 latest.
    const many = Array.from({ length: 11 }, (_, i) => `many-${i + 1}.cap.test`);
    assert.deepEqual((await resolve(...many)).answers, new Array(11).fill(25));
    const held = await eventually(
      () => domainAddresses(helper, ruleId),
      (addresses) => addresses.some((a) => a.address === '127.77.11.25'),
      'the newest address, 127.77.11.25, learned',
      { describe: (addresses) => `${addresses.length} addresses, the last ${JSON.stringify(addresses.slice(-3))}` },
    );
    assert.equal(held.length, 256);
    const texts = new Set(held.map((a) => a.address));
    assert.ok(!texts.has(host.peer4) && !texts.has('127.77.1.1') && !texts.has('127.77.1.19'), 'the oldest went');
    assert.ok(texts.has('127.77.1.20') && texts.has('127.77.11.25'));
    const status = await dnsStatus(helper);
    assert.equal(status.domainAddresses, 256);
    assert.equal(status.answersLearned, 12);
    assert.ok(status.domainApplies <= 12, `applies are batched: ${status.domainApplies} for 12 answers`);

    // The kernel agrees: the newest address is blocked, the evicted one is not (nothing listens: refused).
    const port = randomPort();
    await eventually(
      async () => (await probeConnect(sandbox, helper.paths.cgroup, [{ host: '127.77.11.25', port }]))[0],
      (result) => result === 'EPERM',
      'the newest address blocked in the kernel',
    );
    assert.deepEqual(
      await probeConnect(sandbox, helper.paths.cgroup, [
        { host: '127.77.11.25', port },
        { host: '127.77.1.20', port },
        { host: '127.77.1.19', port },
      ]),
      ['EPERM', 'EPERM', 'refused'],
    );
  });
});
