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
const CAP_NUMBERS: Record<string, number> = {
  CAP_DAC_READ_SEARCH: 2,
  CAP_NET_ADMIN: 12,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
};

interface Started {
  ready: boolean;
  log: string;
  socket: string;
  pid: number;
}

/** Starts the helper with exactly these capabilities; resolves when it serves or exits. */
async function startWithCaps(
  sandbox: Sandbox,
  caps: string[],
  paths: { cgroup: string; bpffs: string; base?: string },
): Promise<Started> {
  const base = paths.base ?? sandbox.makeTempDir('caps');
  const socket = join(base, 'run', 'helper.sock');
  const bounding = ['-all', ...caps.map((cap) => `+${cap.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  const child = spawn(
    'setpriv',
    [
      `--bounding-set=${bounding}`,
      '--inh-caps=-all',
      '--no-new-privs',
      '--',
      ...CLI_ARGV,
      'helper',
      '--cgroup',
      paths.cgroup,
      '--bpffs',
      paths.bpffs,
      '--state-dir',
      join(base, 'state'),
      '--socket',
      socket,
    ],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PKEXEC_UID: '' },
    },
  );
  sandbox.defer(() => killAndWait(child));
  let log = '';
  const ready = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 60_000);
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready: serving')) {
        clearTimeout(timer);
        resolve(true);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
  // setpriv execs the command, so the child is the helper itself.
  return { ready, log, socket, pid: child.pid! };
}

test('the unit bounding set holds what the kernel side needs, and not CAP_SYS_ADMIN', () => {
  for (const cap of REQUIRED) assert.ok(UNIT_CAPS.includes(cap), `${cap} in CapabilityBoundingSet`);
  assert.ok(!UNIT_CAPS.includes('CAP_SYS_ADMIN'), 'CAP_SYS_ADMIN is not needed and not granted');
});

interface Lab {
  cgroup: string;
  bpffs: string;
  base: string;
}

/** A fresh cgroup, bpffs directory and state directory; the pins are removed at the end. */
function makeLab(sandbox: Sandbox): Lab {
  const lab = {
    cgroup: sandbox.makeCgroup('caps'),
    bpffs: join(sandbox.makeBpffs(), 'portcullis'),
    base: sandbox.makeTempDir('caps'),
  };
  sandbox.defer(() =>
    Firewall.detach(lab.bpffs).catch(() => {
      /* not pinned */
    }),
  );
  return lab;
}

/** A loopback server that hangs up at once; its port. */
async function listenOnLoopback(sandbox: Sandbox): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  sandbox.defer(() => {
    server.close();
  });
  return (server.address() as { port: number }).port;
}

/** Blocks a loopback port through the helper's socket, then connects to it from the lab's cgroup. */
async function blockAndProbe(
  lab: Lab,
  helper: Started,
  port: number,
): Promise<{ block: { code: number | null; stderr: string }; probe: string }> {
  const block = await runCli(['--socket', helper.socket, 'block', '127.0.0.1', '--port', String(port)]);
  return { block, probe: probeFromCgroup(lab.cgroup, port) };
}

/** How a connect from inside the cgroup ends: 'connected' or the error code. */
function probeFromCgroup(cgroup: string, port: number): string {
  const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  const probe = spawnSync(
    'sh',
    ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, process.execPath, '-e', script],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return probe.stdout.trim();
}

/** Starts the helper with these capabilities on a fresh cgroup, blocks a loopback port, probes it. */
async function startAndBlock(
  sandbox: Sandbox,
  caps: string[],
): Promise<{ helper: Started; block: { code: number | null; stderr: string } | null; probe: string | null }> {
  const lab = makeLab(sandbox);
  const helper = await startWithCaps(sandbox, caps, lab);
  if (!helper.ready) return { helper, block: null, probe: null };
  return { helper, ...(await blockAndProbe(lab, helper, await listenOnLoopback(sandbox))) };
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

test(
  'without CAP_SYS_ADMIN a restarted helper adopts the pinned programs and changes their rules',
  { timeout: 180_000 },
  async () => {
    await withSandbox(async (sandbox) => {
      const caps = UNIT_CAPS.filter((cap) => cap !== 'CAP_SYS_ADMIN');
      const lab = makeLab(sandbox);
      const [first, second] = [await listenOnLoopback(sandbox), await listenOnLoopback(sandbox)];
      const before = await startWithCaps(sandbox, caps, lab);
      assert.ok(before.ready, before.log);
      const blocked = await blockAndProbe(lab, before, first);
      assert.equal(blocked.block.code, 0, blocked.block.stderr);
      assert.equal(blocked.probe, 'EPERM');
      process.kill(before.pid, 'SIGKILL');
      // The pins keep enforcing while no helper runs; the next one adopts them and applies a change.
      assert.equal(probeFromCgroup(lab.cgroup, first), 'EPERM', 'still blocked with the helper gone');
      const after = await startWithCaps(sandbox, caps, lab);
      assert.ok(after.ready, after.log);
      const again = await blockAndProbe(lab, after, second);
      assert.equal(again.block.code, 0, again.block.stderr);
      assert.equal(again.probe, 'EPERM', 'the adopting helper enforces a new rule');
      assert.equal(probeFromCgroup(lab.cgroup, first), 'EPERM', 'and keeps the old one');
    });
  },
);

// The unit leaves CAP_SYS_ADMIN out (it would also grant what these grant), so removing one of
// these from the unit's set removes it for good.
for (const missing of REQUIRED) {
  const removed = [missing, 'CAP_SYS_ADMIN'];
  test(`without ${removed.join(' and ')} the helper cannot enforce a rule`, { timeout: 120_000 }, async () => {
    await withSandbox(async (sandbox) => {
      const { helper, block, probe } = await startAndBlock(
        sandbox,
        UNIT_CAPS.filter((cap) => !removed.includes(cap)),
      );
      const failure = helper.ready ? block!.stderr : helper.log;
      assert.ok(!helper.ready || block!.code !== 0, `started and added a rule without ${removed.join(' and ')}`);
      assert.notEqual(probe, 'EPERM');
      assert.match(failure, /Operation not permitted|Invalid argument|EPERM|EINVAL/);
      // Each of them stops it loading.
      assert.equal(helper.ready, false, failure);
    });
  });
}
