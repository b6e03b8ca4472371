// A pin directory the helper cannot use never makes it spin: below a bare /sys/fs/bpf (as under
// `ip netns exec`, which mounts a new /sys; here a private mount namespace with the system bpffs
// unmounted) it mounts a bpffs there and starts; anywhere else off bpffs it stops before any other
// step with exit code 1 and says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { withSandbox } from '../support/sandbox.js';
import { CLI_ARGV, HelperProcess, REPO_ROOT } from '../support/helper-process.js';
import { findBpffsMounts } from '../../main/common/cgroup2.js';
import { finished } from '../kernel/kernel-fixture.js';

/** Runs the helper command with `flags` to its end (bounded); its exit code and output. */
async function runHelper(flags: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), 'helper', ...flags], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PKEXEC_UID: '' },
  });
  const { code, stdout, stderr } = await finished(child, 30_000);
  return { code, output: stdout + stderr };
}

test('helper --bpffs off a BPF filesystem: exit 1 before anything else, saying what to do once', () =>
  withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('bpffs');
    const base = sandbox.makeTempDir('bpffs-refused');
    const pins = join(base, 'pins', 'portcullis');
    const state = join(base, 'state');
    const socket = join(base, 'helper.sock');
    const refused = await runHelper(['--cgroup', cgroup, '--bpffs', pins, '--state-dir', state, '--socket', socket]);
    assert.equal(refused.code, 1, refused.output);
    const refusal = new RegExp(`--bpffs ${pins}: ${base} is not on a BPF filesystem`, 'g');
    assert.equal(refused.output.match(refusal)?.length, 1, `refused once, never retried:\n${refused.output}`);
    assert.match(refused.output, new RegExp(`mount -t bpf bpf ${base}`));
    // The pin directory is checked first: no store opened, nothing loaded or attached, no socket.
    assert.deepEqual(
      [pins, state, socket].filter((path) => existsSync(path)),
      [],
      'nothing made but the refusal',
    );
    assert.deepEqual(attachedPrograms(cgroup), [], 'nothing attached to the cgroup');
  }));

/** The programs attached to `cgroup` (bpftool's JSON). */
function attachedPrograms(cgroup: string): unknown[] {
  return JSON.parse(
    execFileSync('bpftool', ['-j', 'cgroup', 'show', cgroup], { encoding: 'utf8' }).trim() || '[]',
  ) as unknown[];
}

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
