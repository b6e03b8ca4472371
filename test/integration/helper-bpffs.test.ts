// A pin directory the helper cannot use never makes it spin: below a bare /sys/fs/bpf (as under
// `ip netns exec`, which mounts a new /sys; here a private mount namespace with the system bpffs
// unmounted) it mounts a bpffs there and starts; anywhere else off bpffs it stops at once with exit
// code 1 and says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { CLI_ARGV, HelperProcess, REPO_ROOT } from '../support/helper-process.js';
import { findBpffsMounts } from '../../main/common/cgroup2.js';
import { finished } from '../kernel/kernel-fixture.js';

/** Runs the helper command with `flags` to its end (bounded); its exit code, output and wall time. */
async function runHelper(flags: string[]): Promise<{ code: number | null; output: string; ms: number }> {
  const started = performance.now();
  const child = spawn(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'helper', ...flags], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PKEXEC_UID: '' },
  });
  const { code, stdout, stderr } = await finished(child, 30_000);
  return { code, output: stdout + stderr, ms: performance.now() - started };
}

test('helper --bpffs off a BPF filesystem: exit 1 within a second of its own work, saying what to do', () =>
  withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('bpffs');
    const base = sandbox.makeTempDir('bpffs-refused');
    const paths = (bpffs: string) => [
      '--cgroup',
      cgroup,
      '--bpffs',
      bpffs,
      '--state-dir',
      join(base, 'state'),
      '--socket',
      join(base, 'helper.sock'),
    ];
    // The same start, refused at the step before (a relative path): what loading the helper costs.
    const baseline = await runHelper(paths('relative/pins'));
    assert.equal(baseline.code, 2, baseline.output);
    const pins = join(base, 'pins', 'portcullis');
    const refused = await runHelper(paths(pins));
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, new RegExp(`--bpffs ${pins}: ${base} is not on a BPF filesystem`));
    assert.match(refused.output, new RegExp(`mount -t bpf bpf ${base}`));
    assert.ok(
      refused.ms < baseline.ms + 1000,
      `refused ${Math.round(refused.ms)} ms after starting; loading alone takes ${Math.round(baseline.ms)} ms`,
    );
  }));

test('helper --bpffs below a bare /sys/fs/bpf: a bpffs is mounted there and the helper serves', () =>
  withSandbox(async (sandbox) => {
    const hostMountsBefore = findBpffsMounts();
    const pins = `/sys/fs/bpf/portcullis-test-${sandbox.tag}`;
    // A private mount namespace where /sys/fs/bpf is a bare sysfs directory, as ip netns exec leaves it.
    const bare = 'if mountpoint -q /sys/fs/bpf; then umount -l /sys/fs/bpf; fi; exec "$@"';
    const helper = await HelperProcess.start(sandbox, { bpffs: pins }, [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      bare,
      'sh',
      ...CLI_ARGV,
    ]);
    assert.match(helper.logs, /mounting bpffs on \/sys\/fs\/bpf/);
    const status = await (await helper.client()).call('status');
    assert.equal(status.attach.pinDir, pins);
    assert.equal(await helper.stop('SIGTERM'), 0);
    assert.deepEqual(findBpffsMounts(), hostMountsBefore, "the mount stayed in the helper's namespace");
  }));
