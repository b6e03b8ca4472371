// The addon's edges: feature probing in plain words, errors that are NativeErrors carrying
// code/op/detail, argument checks, SO_PEERCRED for the helper's socket server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { findBpffsMounts, findCgroup2Mount } from '../../main/common/cgroup2.js';
import { Firewall, NativeError, peerCredentials, probeKernel } from '../../native/index.js';
import { openFixture } from './kernel-fixture.js';
import { kernelBtfHasFunc } from '../support/kernel-btf.js';

test('probeKernel finds what this kernel has and says plainly what is missing', async () => {
  await withSandbox(async (sandbox) => {
    const bpffs = sandbox.makeBpffs();
    const mounts = { cgroup2Mount: findCgroup2Mount(), bpffsMounts: findBpffsMounts() };
    const features = await probeKernel({ bpffs, ...mounts });
    assert.deepEqual(features.missing, []);
    assert.equal(features.bpffsMount, bpffs);
    for (const key of [
      'btf',
      'ringBuffer',
      'lpmTrie',
      'skStorage',
      'cgroupSockAddr',
      'cgroupSkb',
      'cgroupSock',
      'tpBtf',
      'bpfLink',
      'sockRelease',
      'atomicFetch',
    ] as const) {
      assert.equal(features[key], true, key);
    }
    // Optional (the fast path reads socket storage without it), so never in `missing`.
    assert.equal(features.kernelContextCast, kernelBtfHasFunc('bpf_cast_to_kern_ctx'));
    const without = await probeKernel({ bpffs: join(sandbox.makeTempDir('no-bpffs'), 'nothing'), ...mounts });
    assert.equal(without.bpffsMount, null);
    assert.equal(without.missing.length, 1);
    assert.match(without.missing[0]!, /no bpf filesystem is mounted at .*mount -t bpf/);
  });
});

test('errors are NativeErrors with the errno name, the operation and the detail', async () => {
  await withSandbox(async (sandbox) => {
    const bpffs = sandbox.makeBpffs();
    await assert.rejects(
      Firewall.open({ cgroup: '/sys/fs/cgroup/unified/portcullis-test-does-not-exist', pinDir: join(bpffs, 'p') }),
      (error: Error) => {
        assert.ok(error instanceof NativeError, 'a NativeError');
        assert.equal(error.code, 'ENOENT');
        assert.match(error.op, /^open cgroup /);
        assert.equal(typeof error.detail, 'string');
        return true;
      },
    );
    const { firewall, programs } = await openFixture(sandbox);
    assert.throws(() => programs.run('sideways' as 'egress', new Uint8Array(40)), TypeError);
    await assert.rejects(Firewall.open({ cgroup: 42 } as unknown as { cgroup: string; pinDir: string }), TypeError);
    await assert.rejects(
      firewall.setRules(
        [
          {
            ruleId: 1,
            scope: 0,
            family: 4,
            addr: new Uint8Array(4),
            prefixLen: 40,
            portLo: 0,
            portHi: 1,
            protocol: 'tcp',
            direction: 'out',
            action: 'block',
          },
        ],
        { global: 'allow', perApp: new Map() },
      ),
      /rules\[0\].*prefixLen/,
    );
    programs.close();
    await firewall.close();
    await assert.rejects(
      firewall.readCounters(),
      (error: Error) => error instanceof NativeError && error.code === 'EBADF' && /closed/.test(error.message),
    );
  });
});

test('peerCredentials reports the process at the other end of a unix socket', async () => {
  await withSandbox(async (sandbox) => {
    const path = join(sandbox.makeTempDir('peercred'), 'sock');
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer(resolve).listen(path);
      sandbox.defer(() => new Promise<void>((done) => server.close(() => done())));
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const client = connect(path);
    sandbox.defer(() => void client.destroy());
    const socket = await accepted;
    sandbox.defer(() => void socket.destroy());
    const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
    assert.deepEqual(peerCredentials(fd), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    assert.throws(
      () => peerCredentials(-1),
      (error: Error) => error instanceof NativeError && error.code === 'EBADF',
    );
  });
});
