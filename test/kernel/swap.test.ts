// Ruleset replacement: small changes go in place (mode 'diff'), big ones as a swap; either way a
// destination blocked in both the old and the new ruleset is never let through meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { allowByDefault, finished, openFixture, rule } from './kernel-fixture.js';
import { ipv4 } from './packets.js';
import { compileRules } from '../../native/compiler/compiler.js';
import { nativeFirewall } from '../../native/testing.js';

const tcp = (dport: number) => ({ proto: 'tcp' as const, sport: 40000, dport });

test('small changes are applied in place and decide like a swap would', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    const base = [rule('block', '10.0.0.0/8'), rule('allow', '10.1.0.0/16')];
    assert.equal((await firewall.setRules(base, allowByDefault)).mode, 'swap');
    const verdict = (dst: string) =>
      programs.run('egress', ipv4('192.168.1.1', dst, tcp(80)), { cached: false }).verdict;
    assert.equal(verdict('10.1.2.3'), 'allow');

    const added = await firewall.setRules([...base, rule('block', '10.1.2.3')], allowByDefault);
    assert.equal(added.mode, 'diff');
    assert.ok(added.entriesWritten <= 2, `one entry (and the set it inherits) written, not ${added.entriesWritten}`);
    assert.equal(verdict('10.1.2.3'), 'block');
    assert.equal(verdict('10.1.2.4'), 'allow');

    const removed = await firewall.setRules([base[0]!], allowByDefault);
    assert.equal(removed.mode, 'diff');
    assert.equal(removed.entriesDeleted, 2);
    assert.equal(verdict('10.1.2.3'), 'block');
    assert.equal(verdict('10.1.2.4'), 'block');
    assert.equal(verdict('11.0.0.1'), 'allow');

    assert.equal(
      (await firewall.setRules([base[0]!], { global: 'block', perApp: new Map() })).mode,
      'swap',
      'a default change swaps',
    );
    assert.equal(verdict('11.0.0.1'), 'block');
  });
});

test('a destination blocked in both rulesets stays blocked while rulesets are swapped and diffed', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { firewall } = fixture;
    // Both rulesets block 127.0.0.7, each in its own way; they differ everywhere else.
    const a = [rule('block', '127.0.0.7'), rule('allow', '127.0.0.0/24'), rule('block', '127.0.1.0/24')];
    const b = [rule('block', '127.0.0.0/24'), rule('allow', '127.0.1.0/24'), rule('allow', '127.0.0.8')];
    const big = Array.from({ length: 60_000 }, (_, i) =>
      rule('block', `127.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`),
    );
    await firewall.setRules(a, allowByDefault);

    const stop = join(sandbox.makeTempDir('swap'), 'stop');
    const client = fixture.sandbox.spawnInCgroup(fixture.cgroup, [
      'python3',
      '-c',
      `
import socket, errno, time, os, json
outcomes = {}
end = time.monotonic() + 60
for i in range(200000):
    s = socket.socket()
    try:
        s.connect(("127.0.0.7", 9)); key = "connected"
    except OSError as e:
        key = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    outcomes[key] = outcomes.get(key, 0) + 1
    if i == 0: print("ready", flush=True)
    if time.monotonic() > end or (i % 50 == 0 and os.path.exists(${JSON.stringify(stop)})): break
print(json.dumps(outcomes))
`,
    ]);
    const done = finished(client, 90_000);
    await new Promise((resolve) => client.stdout!.once('data', resolve));
    const modes = new Set<string>();
    for (let round = 0; round < 40; round++) {
      modes.add((await firewall.setRules(round % 2 === 0 ? b : a, allowByDefault)).mode);
      if (round % 10 === 5)
        modes.add((await firewall.setRules([...(round % 4 === 1 ? a : b), ...big], allowByDefault)).mode);
    }
    writeFileSync(stop, '');
    const result = await done;
    assert.deepEqual([...modes].sort(), ['diff', 'swap']);
    const outcomes = JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, number>;
    assert.deepEqual(
      Object.keys(outcomes),
      ['EPERM'],
      `every connect to 127.0.0.7 must fail with EPERM: ${result.stdout}`,
    );
    assert.ok(outcomes.EPERM! > 0);
    console.log(`connects during the applies: ${outcomes.EPERM}`);
  });
});

test('a change that fails half-way in the kernel is not kept: the next apply swaps to what was asked', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    const verdict = (dst: string) =>
      programs.run('egress', ipv4('192.168.1.1', dst, tcp(80)), { cached: false }).verdict;
    const base = [rule('block', '10.0.0.0/8'), rule('allow', '10.1.0.0/16')];
    await firewall.setRules(base, allowByDefault);
    // The addon runs the first step of the diff, then fails (as a kernel error would).
    const native = nativeFirewall(firewall);
    const applyDiff = native.applyDiff.bind(native);
    const replace = (value: typeof applyDiff) =>
      Object.defineProperty(native, 'applyDiff', { value, configurable: true, writable: true });
    replace(async (steps) => {
      await applyDiff(steps.slice(0, 1));
      throw new Error('injected failure after one step');
    });
    const failed = [...base, rule('block', '10.1.2.3'), rule('allow', '10.0.0.9')];
    await assert.rejects(firewall.setRules(failed, allowByDefault), /injected/);
    replace(applyDiff);

    // What the engine does after a failure: asks again for what it had (here: no change at all).
    const next = await firewall.changeRules({ removed: [], added: [] }, allowByDefault);
    assert.equal(next.mode, 'swap', 'the kernel state is unknown after a failed diff');
    assert.equal(verdict('10.1.2.3'), 'allow');
    assert.equal(verdict('10.0.0.9'), 'block');
    const after = await firewall.setRules([...base, rule('block', '10.1.2.3')], allowByDefault);
    assert.equal(after.mode, 'diff');
    assert.equal(verdict('10.1.2.3'), 'block');
  });
});

test('a map prepared for a swap that never came is dropped, not installed by the next swap', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    const verdict = (dst: string) =>
      programs.run('egress', ipv4('192.168.1.1', dst, tcp(80)), { cached: false }).verdict;
    // An image (of other rules) handed over as if a swap were compiling, then abandoned.
    const stale = compileRules([rule('block', '10.9.9.9')], allowByDefault);
    const native = nativeFirewall(firewall);
    native.prepareMap('v4Exact', { ...stale.v4Exact, capacity: stale.v4Exact.count + 1024 });
    assert.equal((await firewall.setRules([rule('block', '10.8.8.8')], allowByDefault)).mode, 'swap');
    assert.equal(verdict('10.8.8.8'), 'block');
    assert.equal(verdict('10.9.9.9'), 'allow');
    assert.throws(
      () => native.prepareMap('v9Exact' as 'v4Exact', { ...stale.v4Exact, capacity: 1 }),
      /unknown map 'v9Exact'/,
    );
    assert.throws(
      () => native.prepareMap('v4Exact', { ...stale.v4Exact, count: 2, capacity: 2 }),
      /v4Exact.values has the wrong length/,
    );
  });
});

test('a map whose fill waits for more compiled entries, abandoned, is stopped and dropped', async () => {
  await withSandbox(async (sandbox) => {
    const { firewall, programs } = await openFixture(sandbox);
    const verdict = (dst: string) =>
      programs.run('egress', ipv4('192.168.1.1', dst, tcp(80)), { cached: false }).verdict;
    const stale = compileRules(
      [rule('block', '10.9.9.9'), rule('block', '10.9.9.10'), rule('block', '10.9.9.11')],
      allowByDefault,
    );
    const native = nativeFirewall(firewall);
    const image = { ...stale.v4Exact, capacity: stale.v4Exact.count + 1024 };
    // Its fill writes the first entry, then the second, then waits for a third that never comes.
    native.prepareMap('v4Exact', { ...image, ready: 1 });
    native.prepareMap('v4Exact', { ...image, ready: 2 });
    assert.throws(
      () => native.prepareMap('v4Lpm', { ...stale.v4Lpm, capacity: 1, ready: 'all' as unknown as number }),
      /v4Lpm.ready must be a number/,
    );
    assert.equal((await firewall.setRules([rule('block', '10.8.8.8')], allowByDefault)).mode, 'swap');
    assert.equal(verdict('10.8.8.8'), 'block');
    assert.equal(verdict('10.9.9.9'), 'allow');
    // Again, and the firewall closed with the fill still waiting.
    native.prepareMap('v4Exact', { ...image, ready: 1 });
  });
});
