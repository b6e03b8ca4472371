// Per-app verdicts decided in the kernel: exec of a registered executable makes the process that
// app (tp_btf exec tracking); children inherit; an app's own rules beat the global ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import type { AppBindings } from '../../native/api.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, connectProbe, openFixture, probeResult, rule, runPython } from './kernel-fixture.js';

const APP_A = 101;
const APP_B = 202;

/** Two copies of python3: different files (device, inode), so two different apps. */
function twoApps(sandbox: Sandbox): { pythonA: string; pythonB: string; bindings: AppBindings } {
  const dir = sandbox.makeTempDir('apps');
  const real = realpathSync('/usr/bin/python3');
  const pythonA = join(dir, 'python3-a');
  const pythonB = join(dir, 'python3-b');
  copyFileSync(real, pythonA);
  copyFileSync(real, pythonB);
  const a = statSync(pythonA, { bigint: true });
  const b = statSync(pythonB, { bigint: true });
  return {
    pythonA,
    pythonB,
    bindings: {
      executables: [
        { dev: a.dev, ino: a.ino, appId: APP_A },
        { dev: b.dev, ino: b.ino, appId: APP_B },
      ],
      paths: [],
      cgroups: [],
      processes: [],
      units: [],
    },
  };
}

test('a per-app rule blocks app A and not app B in the same cgroup; events carry the app id', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, pythonB, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    const block = rule('block', '127.0.0.7', { scope: APP_A });
    await fixture.firewall.setRules([block], allowByDefault);

    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9), { python: pythonA })).stdout).outcome,
      'EPERM',
    );
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9), { python: pythonB })).stdout).outcome,
      'ECONNREFUSED',
    );
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome,
      'ECONNREFUSED',
      'unregistered python3',
    );

    const a = await events.waitFor((e) => e.kind === 'connect' && e.appId === APP_A, 'app A connect');
    assert.equal(a.verdict, 'block');
    assert.equal(a.ruleId, block.ruleId);
    const b = await events.waitFor((e) => e.kind === 'connect' && e.appId === APP_B, 'app B connect');
    assert.equal(b.verdict, 'allow');
    assert.equal(b.ruleId, 0);
  });
});

test("an app's allow rule beats a global block; the per-app default comes after global rules", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, pythonB, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    await fixture.firewall.setRules(
      [rule('block', '127.0.0.0/8'), rule('allow', '127.0.0.9', { scope: APP_A }), rule('allow', '127.0.0.12')],
      { global: 'allow', perApp: new Map([[APP_B, 'block']]) },
    );
    const outcome = async (python: string, address: string) =>
      probeResult((await runPython(fixture, connectProbe(4, address, 9), { python })).stdout).outcome;
    assert.equal(await outcome(pythonA, '127.0.0.9'), 'ECONNREFUSED', 'app A allow beats the global /8 block');
    assert.equal(await outcome(pythonB, '127.0.0.9'), 'EPERM', 'app B gets the global block');
    assert.equal(await outcome(pythonB, '127.0.0.12'), 'ECONNREFUSED', 'a global allow beats app B’s default');
    // With no rules at all, only the defaults decide.
    await fixture.firewall.setRules([], { global: 'allow', perApp: new Map([[APP_B, 'block']]) });
    assert.equal(await outcome(pythonB, '127.0.0.9'), 'EPERM', 'app B default block');
    assert.equal(await outcome(pythonA, '127.0.0.9'), 'ECONNREFUSED', 'app A: global default allow');
  });
});

test('children inherit the app of the process that forked them; a cgroup binding covers a scope', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    await fixture.firewall.setRules([rule('block', '127.0.0.7', { scope: APP_A })], allowByDefault);
    // App A forks a shell that execs the unregistered python3: still app A.
    const viaChild = await runPython(
      fixture,
      `import subprocess, sys; sys.stdout.write(subprocess.run(["python3", "-c", ${JSON.stringify(connectProbe(4, '127.0.0.7', 9))}], capture_output=True, text=True).stdout)`,
      { python: pythonA },
    );
    assert.equal(probeResult(viaChild.stdout).outcome, 'EPERM');

    // Without exec bindings, binding the test cgroup's id to app A has the same effect.
    await fixture.firewall.bindApps({
      replace: true,
      add: {
        executables: [],
        cgroups: [{ cgroupId: statSync(fixture.cgroup, { bigint: true }).ino, appId: APP_A }],
        processes: [],
      },
    });
    assert.equal(probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome, 'EPERM');
    await fixture.firewall.bindApps({ replace: true });
    assert.equal(
      probeResult((await runPython(fixture, connectProbe(4, '127.0.0.7', 9))).stdout).outcome,
      'ECONNREFUSED',
    );
  });
});

test('per-app IPv6 prefixes in the prefix hash: an app-scoped allow beats a global block, an app-scoped block holds only that app', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, pythonB, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    const outcome = async (python: string) =>
      probeResult((await runPython(fixture, connectProbe(6, '::1', 9), { python })).stdout).outcome;
    // /112 and /120 are both at or above the split the compiler picks here (at most 64): hashed, not in the trie.
    await fixture.firewall.setRules(
      [rule('block', '::/112'), rule('allow', '::/120', { scope: APP_A })],
      allowByDefault,
    );
    assert.equal(await outcome(pythonA), 'ECONNREFUSED', "app A's /120 allow is found in its own scope first");
    assert.equal(await outcome(pythonB), 'EPERM', 'app B gets the global /112 block');
    await fixture.firewall.setRules([rule('block', '::/96', { scope: APP_B })], allowByDefault);
    assert.equal(await outcome(pythonB), 'EPERM', "app B's own /96 block");
    assert.equal(await outcome(pythonA), 'ECONNREFUSED', 'app A is not under app B’s block');
  });
});

test("an app's first rule given as a change to the ruleset holds at once (its scope is marked by a swap)", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, pythonB, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    const global = rule('block', '127.0.0.20');
    await fixture.firewall.setRules([global], allowByDefault);
    const probeAs = async (python: string, address: string) =>
      probeResult((await runPython(fixture, connectProbe(4, address, 9), { python })).stdout).outcome;
    assert.equal(await probeAs(pythonA, '127.0.0.21'), 'ECONNREFUSED', 'app A has no rules yet');

    const first = await fixture.firewall.changeRules(
      { removed: [], added: [rule('block', '127.0.0.21', { scope: APP_A })] },
      allowByDefault,
    );
    assert.equal(first.mode, 'swap', 'an app without rules in the kernel gets them by a swap');
    assert.equal(await probeAs(pythonA, '127.0.0.21'), 'EPERM');
    assert.equal(await probeAs(pythonB, '127.0.0.21'), 'ECONNREFUSED');

    const second = await fixture.firewall.changeRules(
      { removed: [], added: [rule('block', '127.0.0.22', { scope: APP_A })] },
      allowByDefault,
    );
    assert.equal(second.mode, 'diff', "the app's further rules go in place");
    assert.equal(await probeAs(pythonA, '127.0.0.22'), 'EPERM');
    assert.equal(await probeAs(pythonA, '127.0.0.20'), 'EPERM', 'the global rule still holds for the app');
  });
});

// The connect hook remembers its last decisions per CPU (remembered.bpf.h). On one CPU, one remote,
// each answer must still be the app's own, and a rules change given in place must end what was
// remembered before it.
test('decisions remembered on a CPU are per app, and a rules change in place ends them', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const { pythonA, pythonB, bindings } = twoApps(sandbox);
    await fixture.firewall.bindApps({ replace: true, add: bindings });
    await fixture.firewall.setRules([rule('block', '127.0.0.30', { scope: APP_B })], allowByDefault);
    const onCpu0 = `import os\nos.sched_setaffinity(0, {0})\n${connectProbe(4, '127.0.0.31', 9)}`;
    const probeAs = async (python: string) =>
      probeResult((await runPython(fixture, onCpu0, { python })).stdout).outcome;
    assert.equal(await probeAs(pythonA), 'ECONNREFUSED', 'app A: allowed, and remembered');
    assert.equal(await probeAs(pythonA), 'ECONNREFUSED');

    const change = await fixture.firewall.changeRules(
      { removed: [], added: [rule('block', '127.0.0.31', { scope: APP_B })] },
      allowByDefault,
    );
    assert.equal(change.mode, 'diff', 'app B already has rules: the change goes in place');
    assert.equal(await probeAs(pythonB), 'EPERM', 'app B: blocked, though app A was just allowed to the same remote');
    assert.equal(await probeAs(pythonA), 'ECONNREFUSED', 'app A: still allowed after app B was blocked');
    assert.equal(await probeAs(pythonB), 'EPERM');

    await fixture.firewall.changeRules(
      { removed: [], added: [rule('block', '127.0.0.31', { scope: APP_A })] },
      allowByDefault,
    );
    assert.equal(await probeAs(pythonA), 'EPERM', 'app A: its new rule holds at once');
  });
});
