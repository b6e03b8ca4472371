// The systemd unit's CapabilityBoundingSet is enough and each kernel-side capability in it is
// needed: the helper runs under `setpriv` with exactly the unit's bounding set (and no new
// privileges, as NoNewPrivileges=yes) on a test cgroup and enforces a block; it needs no CAP_SYS_ADMIN
// (rule changes write through the map fds kept from the swap, never reopening maps by id), and
// without CAP_BPF, CAP_NET_ADMIN or CAP_PERFMON it does not start.
// (CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH serve app identification across users: not measured here.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Firewall } from '../../native/index.js';
import { withSandbox, killAndWait, type Sandbox } from '../support/sandbox.js';
import { CLI_ARGV, REPO_ROOT, runCli } from '../support/helper-process.js';

const UNIT = readFileSync(join(REPO_ROOT, 'polkit/portcullis-helper.service'), 'utf8');
const UNIT_CAPS = (UNIT.match(/^CapabilityBoundingSet=(.*)$/m)?.[1] ?? '').split(/\s+/).filter(Boolean);
const REQUIRED = ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON'];
/** linux/capability.h numbers of the capabilities the unit may name. */
const CAP_NUMBERS: Record<string, number> = { CAP_DAC_READ_SEARCH: 2, CAP_NET_ADMIN: 12, CAP_SYS_PTRACE: 19, CAP_SYS_ADMIN: 21, CAP_PERFMON: 38, CAP_BPF: 39 };

interface Started { ready: boolean; log: string; socket: string; pid: number }

/** Starts the helper with exactly these capabilities; resolves when it serves or exits. */
async function startWithCaps(sandbox: Sandbox, caps: string[], paths: { cgroup: string; bpffs: string }): Promise<Started> {
  const base = sandbox.makeTempDir('caps');
  const socket = join(base, 'run', 'helper.sock');
  const bounding = ['-all', ...caps.map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  const child = spawn('setpriv', [`--bounding-set=${bounding}`, '--inh-caps=-all', '--no-new-privs', '--',
    ...CLI_ARGV, 'helper', '--cgroup', paths.cgroup, '--bpffs', paths.bpffs, '--state-dir', join(base, 'state'), '--socket', socket], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PKEXEC_UID: '' },
  });
  sandbox.defer(() => killAndWait(child));
  let log = '';
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready: serving')) { clearTimeout(timer); resolve(true); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => { clearTimeout(timer); resolve(false); });
  });
  // setpriv execs the command, so the child is the helper itself.
  return { ready, log, socket, pid: child.pid! };
}

test('the unit bounding set holds what the kernel side needs', () => {
  for (const cap of REQUIRED) assert.ok(UNIT_CAPS.includes(cap), `${cap} in CapabilityBoundingSet`);
});

/** Starts the helper with these capabilities on a fresh cgroup, blocks a loopback port, probes it. */
async function startAndBlock(sandbox: Sandbox, caps: string[]): Promise<{ helper: Started; block: { code: number | null; stderr: string } | null; probe: string | null }> {
  const cgroup = sandbox.makeCgroup('caps');
  const bpffs = join(sandbox.makeBpffs(), 'portcullis');
  sandbox.defer(() => { try { Firewall.detach(bpffs); } catch { /* not pinned */ } });
  const helper = await startWithCaps(sandbox, caps, { cgroup, bpffs });
  if (!helper.ready) return { helper, block: null, probe: null };
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sandbox.defer(() => { server.close(); });
  const port = (server.address() as { port: number }).port;
  const block = await runCli(['--socket', helper.socket, 'block', '127.0.0.1', '--port', String(port)]);
  const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  const probe = spawnSync('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 });
  return { helper, block, probe: probe.stdout.trim() };
}

test('with only the unit capabilities the helper loads, attaches and blocks', { timeout: 120_000 }, async () => {
  await withSandbox(async (sandbox) => {
    const { helper, block, probe } = await startAndBlock(sandbox, UNIT_CAPS);
    assert.ok(helper.ready, helper.log);
    const status = readFileSync(`/proc/${helper.pid}/status`, 'utf8');
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    const bounding = BigInt(`0x${status.match(/^CapBnd:\s+(\w+)$/m)![1]}`);
    const expected = UNIT_CAPS.reduce((mask, cap) => mask | (1n << BigInt(CAP_NUMBERS[cap]!)), 0n);
    assert.equal(bounding, expected, 'the helper ran with exactly the unit bounding set');
    assert.equal(block?.code, 0, block?.stderr);
    assert.equal(probe, 'EPERM', 'the connect from the test cgroup is refused');
  });
});

test('without CAP_SYS_ADMIN the helper still loads, attaches and changes rules', { timeout: 120_000 }, async () => {
  await withSandbox(async (sandbox) => {
    const { helper, block, probe } = await startAndBlock(sandbox, UNIT_CAPS.filter((cap) => cap !== 'CAP_SYS_ADMIN'));
    assert.ok(helper.ready, helper.log);
    assert.equal(block?.code, 0, block?.stderr);
    assert.equal(probe, 'EPERM', 'the connect from the test cgroup is refused');
  });
});

// CAP_SYS_ADMIN includes what CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON grant, so each of those is
// measured with CAP_SYS_ADMIN also removed.
for (const missing of REQUIRED) {
  const removed = [missing, 'CAP_SYS_ADMIN'];
  test(`without ${removed.join(' and ')} the helper cannot enforce a rule`, { timeout: 120_000 }, async () => {
    await withSandbox(async (sandbox) => {
      const { helper, block, probe } = await startAndBlock(sandbox, UNIT_CAPS.filter((cap) => !removed.includes(cap)));
      const failure = helper.ready ? block!.stderr : helper.log;
      assert.ok(!helper.ready || block!.code !== 0, `started and added a rule without ${removed.join(' and ')}`);
      assert.notEqual(probe, 'EPERM');
      assert.match(failure, /Operation not permitted|Invalid argument|EPERM|EINVAL/);
      // Each of them stops it loading.
      assert.equal(helper.ready, false, failure);
    });
  });
}
