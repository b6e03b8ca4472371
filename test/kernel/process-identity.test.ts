// What the kernel knows about a socket's owner without asking the helper: the executable it ran
// (with the path recorded at exec, also after the process is gone), the app it is by its own
// executable (by file, or by path for a file an update put there, only in the host's mount
// namespace), by inheritance where it started, or by the application unit it was placed in; a
// unit's name is a claim, which only adds the claimed app's blocks and names nobody; root-only
// names bind only what root made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, copyFileSync, mkdirSync, readlinkSync, realpathSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroup, withSandbox, type Sandbox } from '../support/sandbox.js';
import { EventCollector } from './event-collector.js';
import {
  allowByDefault,
  connectProbe,
  finished,
  openFixture,
  probeResult,
  rule,
  type KernelFixture,
} from './kernel-fixture.js';

const APP_A = 301;
const APP_B = 302;
const NOBODY = 65534;
const PYTHON = realpathSync('/usr/bin/python3');

function pythonCopy(sandbox: Sandbox, name: string): string {
  const dir = sandbox.makeTempDir('exe');
  const path = join(dir, name);
  copyFileSync(PYTHON, path);
  return path;
}

/** A child cgroup of the test cgroup (optionally made by another uid), removed with the sandbox. */
function childCgroup(sandbox: Sandbox, parent: string, name: string, asUid?: number): string {
  const path = join(parent, name);
  if (asUid === undefined) mkdirSync(path);
  else execFileSync('setpriv', [`--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', 'mkdir', path]);
  sandbox.defer(() => removeCgroup(path));
  return path;
}

/** Runs argv in `cgroup` to its end and parses connectProbe's output. */
async function outcomeIn(fixture: KernelFixture, cgroup: string, argv: string[]): Promise<string> {
  const result = await finished(fixture.sandbox.spawnInCgroup(cgroup, argv));
  return probeResult(result.stdout).outcome || `no output: ${result.stderr}`;
}

const probe = (address: string) => connectProbe(4, address, 9);

test('events name the executable the owner ran, with its path, after the process is gone', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    const exe = pythonCopy(sandbox, 'one-shot');
    assert.equal(await outcomeIn(fixture, fixture.cgroup, [exe, '-c', probe('127.0.0.7')]), 'ECONNREFUSED');
    const event = await events.waitFor((e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.7', 'the connect');
    const stats = statSync(exe, { bigint: true });
    assert.equal(event.exe?.path, exe, 'the path recorded at exec');
    assert.equal(event.exe?.ino, stats.ino);
    assert.equal(event.exe?.pathCut, false);

    // Executed from memory: a file with no place in a tree is named by itself.
    const fromMemory = `
import os
fd = os.memfd_create('pcltest', 0)
os.write(fd, open(${JSON.stringify(PYTHON)}, 'rb').read())
os.execv(f'/proc/self/fd/{fd}', ['pcltest', '-c', ${JSON.stringify(probe('127.0.0.9'))}])
`;
    assert.equal(await outcomeIn(fixture, fixture.cgroup, [PYTHON, '-c', fromMemory]), 'ECONNREFUSED');
    const memfd = await events.waitFor((e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.9', 'the memfd run');
    assert.equal(memfd.exe?.path, '/memfd:pcltest');
  });
});

/** The mount namespace path bindings count in, found as the addon finds it. */
function hostMountNamespace(): string {
  try {
    return readlinkSync('/proc/1/ns/mnt');
  } catch {
    return readlinkSync('/proc/self/ns/mnt');
  }
}

test('a path binding covers a file an update put at the path, not a file mounted there in another namespace', async (t) => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const exe = pythonCopy(sandbox, 'updated');
    await fixture.firewall.bindApps({ add: { paths: [{ path: exe, appId: APP_A }] } });
    await fixture.firewall.setRules([rule('block', '127.0.0.7', { scope: APP_A })], allowByDefault);
    // Paths count only in the host's mount namespace: PID 1's, or the loader's own where PID 1's
    // cannot be read (a sandbox's init). The kernel matrix's guest runs its job in a namespace of
    // its own: there a bound path binds nothing, and the rest cannot be shown.
    if (readlinkSync('/proc/self/ns/mnt') !== hostMountNamespace()) {
      assert.equal(await outcomeIn(fixture, fixture.cgroup, [exe, '-c', probe('127.0.0.7')]), 'ECONNREFUSED');
      t.skip(
        "outside PID 1's mount namespace: a path binding holds nothing here (checked), so updates cannot be shown",
      );
      return;
    }
    assert.equal(await outcomeIn(fixture, fixture.cgroup, [exe, '-c', probe('127.0.0.7')]), 'EPERM');

    // A package update: a new file renamed over the old one (a new inode at the bound path).
    const before = statSync(exe).ino;
    copyFileSync(PYTHON, `${exe}.new`);
    renameSync(`${exe}.new`, exe);
    assert.notEqual(statSync(exe).ino, before);
    assert.equal(await outcomeIn(fixture, fixture.cgroup, [exe, '-c', probe('127.0.0.7')]), 'EPERM');

    // Another file bind-mounted at the path in a private mount namespace is not the app.
    const other = pythonCopy(sandbox, 'other');
    const mounted = await outcomeIn(fixture, fixture.cgroup, [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$1" "$2" && exec "$2" -c "$3"',
      'sh',
      other,
      exe,
      probe('127.0.0.7'),
    ]);
    assert.equal(mounted, 'ECONNREFUSED');
  });
});

test("a cgroup made with a known unit name claims that app: its blocks apply, it names nobody; root-only names bind only root's cgroups", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    await fixture.firewall.bindApps({
      add: {
        units: [
          { unit: 'app-portcullis\\x2dtest', appId: APP_A, rootOnly: false },
          { unit: 'pcltest-daemon', appId: APP_B, rootOnly: true },
        ],
      },
    });
    const blockA = rule('block', '127.0.0.7', { scope: APP_A });
    await fixture.firewall.setRules([blockA, rule('block', '127.0.0.8', { scope: APP_B })], allowByDefault);
    const python = (address: string) => [PYTHON, '-c', probe(address)];

    const scope = childCgroup(sandbox, fixture.cgroup, 'app-portcullis\\x2dtest-41.scope');
    assert.equal(await outcomeIn(fixture, scope, python('127.0.0.7')), 'EPERM', 'the scope is the app');
    const claimed = await events.waitFor((e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.7', 'the claim');
    assert.deepEqual([claimed.appId, claimed.ruleId], [0, blockA.ruleId], "the claimed app's block, naming nobody");

    const session = childCgroup(sandbox, fixture.cgroup, 'session-41.scope');
    assert.equal(await outcomeIn(fixture, session, python('127.0.0.7')), 'ECONNREFUSED', 'not an app unit');

    const service = childCgroup(sandbox, fixture.cgroup, 'pcltest-daemon.service');
    assert.equal(await outcomeIn(fixture, service, python('127.0.0.8')), 'EPERM', 'made by root: the service');
    const bound = await events.waitFor((e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.8', 'the service');
    assert.equal(bound.appId, APP_B, 'a name root may bind names the app');

    // A user's own (delegated) subtree: a root-only name binds nothing there, a claim still does.
    const delegated = childCgroup(sandbox, fixture.cgroup, 'delegated');
    chownSync(delegated, NOBODY, NOBODY);
    const userService = childCgroup(sandbox, delegated, 'pcltest-daemon.service', NOBODY);
    assert.equal(await outcomeIn(fixture, userService, python('127.0.0.8')), 'ECONNREFUSED', 'not made by root');
    const userScope = childCgroup(sandbox, delegated, 'app-portcullis\\x2dtest-42.scope', NOBODY);
    assert.equal(await outcomeIn(fixture, userScope, python('127.0.0.7')), 'EPERM', 'anyone can claim');

    // A claim adds to what the process is: app B's own program in A's claimed scope is B, under A's blocks too.
    const programB = pythonCopy(sandbox, 'program-b');
    const statsB = statSync(programB, { bigint: true });
    await fixture.firewall.bindApps({ add: { executables: [{ dev: statsB.dev, ino: statsB.ino, appId: APP_B }] } });
    assert.equal(await outcomeIn(fixture, scope, [programB, '-c', probe('127.0.0.7')]), 'EPERM', "A's claim");
    assert.equal(await outcomeIn(fixture, scope, [programB, '-c', probe('127.0.0.8')]), 'EPERM', 'B itself');
    const both = await events.waitFor(
      (e) => e.kind === 'connect' && e.remoteAddr === '127.0.0.7' && e.appId === APP_B,
      'B under the claim',
    );
    assert.equal(both.ruleId, blockA.ruleId);

    // Withdrawn claims leave the scopes units of no known app.
    await fixture.firewall.bindApps({ unclaim: [APP_A] });
    assert.equal(await outcomeIn(fixture, scope, python('127.0.0.7')), 'ECONNREFUSED');
    assert.equal(await outcomeIn(fixture, userScope, python('127.0.0.7')), 'ECONNREFUSED');
    const later = childCgroup(sandbox, fixture.cgroup, 'app-portcullis\\x2dtest-43.scope');
    assert.equal(await outcomeIn(fixture, later, python('127.0.0.7')), 'EPERM', 'the name still claims new scopes');
  });
});

test("an app's own executable holds anywhere; a launcher's child placed in an app's unit is that app", async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const launcher = pythonCopy(sandbox, 'launcher');
    const stats = statSync(launcher, { bigint: true });
    const unit = childCgroup(sandbox, fixture.cgroup, 'app-pcltest\\x2dunit-7.scope');
    await fixture.firewall.bindApps({
      add: {
        executables: [{ dev: stats.dev, ino: stats.ino, appId: APP_A }],
        cgroups: [{ cgroupId: statSync(unit, { bigint: true }).ino, appId: APP_B }],
      },
    });
    await fixture.firewall.setRules(
      [rule('block', '127.0.0.7', { scope: APP_A }), rule('block', '127.0.0.8', { scope: APP_B })],
      allowByDefault,
    );
    // The launcher (app A) starts a child that moves into B's unit, then execs an unbound python.
    const launch = (address: string, move: boolean) => {
      const script = `${move ? `echo $$ > "${unit}/cgroup.procs" && ` : ''}exec "${PYTHON}" -c '${probe(address)}'`;
      return `import subprocess, sys; sys.stdout.write(subprocess.run(["sh", "-c", ${JSON.stringify(script)}], capture_output=True, text=True).stdout)`;
    };
    assert.equal(await outcomeIn(fixture, fixture.cgroup, [launcher, '-c', launch('127.0.0.8', true)]), 'EPERM');
    assert.equal(
      await outcomeIn(fixture, fixture.cgroup, [launcher, '-c', launch('127.0.0.7', true)]),
      'ECONNREFUSED',
      'placed in B, it is no longer A',
    );
    assert.equal(
      await outcomeIn(fixture, fixture.cgroup, [launcher, '-c', launch('127.0.0.7', false)]),
      'EPERM',
      'a child that stays where it was started is A',
    );
    // A's own executable, run in B's unit, is A.
    assert.equal(await outcomeIn(fixture, unit, [launcher, '-c', probe('127.0.0.7')]), 'EPERM');
    assert.equal(await outcomeIn(fixture, unit, [launcher, '-c', probe('127.0.0.8')]), 'ECONNREFUSED');
  });
});
