// The kernel features in words, from probe results as the addon reports them on the kernels the
// matrix boots (6.18 and 6.12 have the kernel-context cast, Debian 12's 6.1 does not), and the
// checks and the CLI's status built on them. The probes themselves run against the real kernel in
// test/kernel/addon-surface.test.ts and, through the helper, test/integration/helper-enforces.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KernelFeatures } from '../../../native/api.js';
import type { Status } from '../../../main/contract/index.js';
import { describeKernelFeatures } from '../../../main/helper/kernel-features.js';
import { hooksCheck, kernelCheck } from '../../../main/client/checks.js';
import { formatStatus } from '../../../main/cli/commands/status.js';

function probe(overrides: Partial<KernelFeatures> = {}): KernelFeatures {
  return {
    kernelRelease: '6.18.0',
    cgroup2Mount: '/sys/fs/cgroup',
    bpffsMount: '/sys/fs/bpf',
    btf: true,
    ringBuffer: true,
    lpmTrie: true,
    skStorage: true,
    cgroupSockAddr: true,
    cgroupSkb: true,
    cgroupSock: true,
    tpBtf: true,
    bpfLink: true,
    sockRelease: true,
    atomicFetch: true,
    kernelContextCast: true,
    hold: { mechanism: 'syn-hold', detail: 'held at the SYN' },
    missing: [],
    ...overrides,
  };
}

function statusWith(kernel: Status['kernel']): Status {
  return {
    version: '0.1.0',
    protocolVersion: 1,
    pid: 1,
    uptimeSec: 1,
    enforcing: true,
    pausedUntil: null,
    defaultAction: 'allow',
    attach: { cgroup: '/sys/fs/cgroup', pinDir: '/sys/fs/bpf/portcullis', adopted: false },
    kernel,
    ruleCount: 0,
    lists: { count: 0, entries: 0 },
    appCount: 0,
    eventsSeen: 0,
    eventDrops: 0,
    dns: { queries: 0, answersLearned: 0, answersIgnored: 0, pendingQueries: 0, domainAddresses: 0, domainApplies: 0 },
    policy: { dir: '/etc/portcullis/policy.d', files: [], error: null },
  };
}

const fastPathOf = (features: ReturnType<typeof describeKernelFeatures>) => features.find((f) => f.id === 'fast-path');

test('with the kernel-context cast every feature runs in its full form', () => {
  const features = describeKernelFeatures(probe(), 'entry');
  assert.deepEqual(
    features.map((f) => f.id),
    [
      'verdicts',
      'owners',
      'backstop',
      'fast-path',
      'dns-namespace',
      'app-identity',
      'close-totals',
      'events',
      'ask-hold',
    ],
  );
  assert.ok(features.every((f) => f.available && !f.reduced));
  assert.equal(fastPathOf(features)?.form, 'per-socket entries');
  assert.deepEqual(
    features.filter((f) => !f.required).map((f) => f.id),
    ['fast-path', 'dns-namespace', 'ask-hold'],
    'only the fast path and the DNS check may change form, and ask mode is optional; the rest enforcement needs',
  );
});

test("ask mode's hold: available with its mechanism, or unavailable saying what is missing", () => {
  const hold = (probed: Partial<KernelFeatures>) =>
    describeKernelFeatures(probe(probed), 'entry').find((f) => f.id === 'ask-hold')!;
  assert.equal(hold({}).available, true);
  const missing = hold({ hold: { mechanism: null, detail: 'ask mode is unavailable: no sock_ops programs' } });
  assert.deepEqual([missing.available, missing.required, missing.form], [false, false, 'unavailable']);
  assert.match(missing.why, /no sock_ops programs/);
});

test('before 6.2 the fast path runs from socket storage, and says why and what it costs', () => {
  const fastPath = fastPathOf(describeKernelFeatures(probe({ kernelContextCast: false }), 'socket-storage'));
  assert.equal(fastPath?.available, true);
  assert.equal(fastPath?.reduced, true);
  assert.equal(fastPath?.form, 'socket storage');
  assert.match(fastPath!.why, /arrived in Linux 6\.2: every packet makes one socket-storage lookup/);
  const dns = describeKernelFeatures(probe({ kernelContextCast: false }), 'socket-storage').find(
    (f) => f.id === 'dns-namespace',
  );
  assert.deepEqual([dns?.reduced, dns?.form], [true, 'the namespace a socket was made in']);
  assert.match(dns!.why, /sockets older than the programs report no DNS/);
});

test('pins adopted in the older form are reported as adopted, not blamed on the kernel', () => {
  const fastPath = fastPathOf(describeKernelFeatures(probe(), 'socket-storage'));
  assert.equal(fastPath?.reduced, true);
  assert.match(fastPath!.why, /loaded in this form and adopted/);
});

test('a missing hook is a required feature unavailable, with what the kernel lacks', () => {
  const features = describeKernelFeatures(probe({ sockRelease: false, cgroupSkb: false }), 'socket-storage');
  const closeTotals = features.find((f) => f.id === 'close-totals')!;
  assert.deepEqual([closeTotals.available, closeTotals.required, closeTotals.form], [false, true, 'unavailable']);
  assert.match(closeTotals.why, /socket-release hook \(Linux 5\.9\+\)/);
  assert.equal(features.find((f) => f.id === 'backstop')?.available, false);
  assert.equal(fastPathOf(features), undefined, 'no fast path without the packet hooks');
});

test('the kernel check fails only below the kernel enforcement needs (5.12)', () => {
  assert.equal(kernelCheck('5.11.22-generic').ok, false);
  assert.match(kernelCheck('5.11.22-generic').fix ?? '', /needs Linux 5\.12 or newer/);
  assert.equal(kernelCheck('5.12.0').ok, true);
  assert.equal(kernelCheck('6.1.0-57-amd64').ok, true);
});

test("the hooks check passes with an older fast path, names it, and carries the features; it fails on what's missing", () => {
  const onSix1 = statusWith({
    kernelRelease: '6.1.0-57-amd64',
    cgroup2Mount: '/sys/fs/cgroup',
    bpffsMount: '/sys/fs/bpf',
    btf: true,
    missing: [],
    features: describeKernelFeatures(probe({ kernelContextCast: false }), 'socket-storage'),
  });
  const check = hooksCheck(onSix1);
  assert.equal(check.ok, true);
  assert.match(check.detail, /in an older form: cached fast path, dns from system namespaces$/);
  assert.equal(check.features, onSix1.kernel.features);

  const printed = formatStatus(onSix1);
  assert.match(printed, /Kernel +Linux 6\.1\.0-57-amd64, every hook enforcement needs present/);
  assert.match(printed, /\n {2}~ Cached fast path: socket storage — the kernel-context cast .*arrived in Linux 6\.2/);
  assert.match(printed, /\n {2}✓ Connection verdicts: connect and sendmsg hooks — /);

  const lacking = hooksCheck(
    statusWith({ ...onSix1.kernel, missing: ['the kernel lacks BPF ring buffer maps (Linux 5.8+)'] }),
  );
  assert.equal(lacking.ok, false);
  assert.equal(lacking.detail, 'the kernel lacks BPF ring buffer maps (Linux 5.8+)');
  assert.match(lacking.fix ?? '', /Linux 5\.12\+/);
});

test('socket owners say when a socket gets its owner in each form', () => {
  const owners = (home: 'entry' | 'socket-storage') =>
    describeKernelFeatures(probe(), home).find((f) => f.id === 'owners')!;
  assert.match(owners('entry').why, /the process, user and app that first uses it/);
  assert.doesNotMatch(owners('entry').form, /socket-create/, 'the creation hook is not attached in the entry form');
  assert.match(owners('socket-storage').why, /when it is made/);
  assert.match(owners('socket-storage').form, /socket-create/);
});
