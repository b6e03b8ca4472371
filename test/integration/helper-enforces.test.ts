// End to end on the kernel that runs it (the kernel matrix boots Debian's kernels for this): a real
// helper on a test cgroup says which features run in which form here, blocks, processes in the
// cgroup get EPERM, a process in a sibling cgroup gets through, and after kill -9 of the helper the
// pinned programs still enforce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withSandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { probeConnect } from '../support/connect-probe.js';
import { expectedFastPath } from '../support/kernel-btf.js';

// Nothing listens on these ports: an allowed connect is refused by the stack, a blocked one never leaves.
const targets = [
  { host: '127.0.0.30', port: 9 },
  { host: '::1', port: 9 },
  { host: '127.0.0.31', port: 9 },
  { host: '::1', port: 10 },
];
const blockedInside = ['EPERM', 'EPERM', 'refused', 'refused'];
const untouched = ['refused', 'refused', 'refused', 'refused'];

const uptime = () => readFileSync('/proc/uptime', 'utf8').split(' ')[0];

test('the helper blocks in its cgroup only, and the pinned programs keep blocking after kill -9', (t) =>
  withSandbox(async (sandbox) => {
    const outside = sandbox.makeCgroup('outside');
    const startedAt = performance.now();
    const helper = await HelperProcess.start(sandbox);
    const client = await helper.client();
    // What runs in which form on this kernel, from the helper's probes (the matrix logs these).
    const { kernel } = await client.call('status');
    assert.deepEqual(kernel.missing, []);
    assert.ok(
      kernel.features.every((f) => f.available),
      kernel.features.map((f) => f.why).join('; '),
    );
    assert.equal(
      kernel.features.find((f) => f.id === 'fast-path')?.form,
      expectedFastPath() === 'entry' ? 'per-socket entries' : 'socket storage',
    );
    for (const f of kernel.features) t.diagnostic(`feature on ${kernel.kernelRelease}: ${f.label}: ${f.form}`);
    await client.call('rules.add', { rule: { action: 'block', remote: '127.0.0.30' } });
    await client.call('rules.add', { rule: { action: 'block', remote: '::1', port: '9', protocol: 'tcp' } });
    assert.deepEqual(await probeConnect(sandbox, helper.paths.cgroup, targets), blockedInside);
    t.diagnostic(
      `enforcing ${Math.round(performance.now() - startedAt)} ms after the helper's start (uptime ${uptime()} s)`,
    );
    assert.deepEqual(await probeConnect(sandbox, outside, targets), untouched, 'a sibling cgroup is not affected');
    client.close();

    await helper.stop('SIGKILL');
    assert.equal(helper.running, false);
    assert.deepEqual(
      await probeConnect(sandbox, helper.paths.cgroup, targets),
      blockedInside,
      'enforcement outlives the helper',
    );
    assert.deepEqual(await probeConnect(sandbox, outside, targets), untouched);
  }));
