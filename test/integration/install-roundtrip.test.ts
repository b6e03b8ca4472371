// install -> the installed helper runs from /usr/lib/portcullis -> it applies a policy file dropped
// into the policy directory install made -> doctor all green -> uninstall --purge -> nothing left,
// checked place by place. Real system paths (root), real polkitd, the
// helper on the test's own cgroup and private bpffs through /etc/portcullis/helper.conf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatRemote, type Check } from '../../main/contract/index.js';
import { HelperClient } from '../../main/client/helper-client.js';
import { LAYOUT, POLKIT_ACTION_ID } from '../../main/common/install-layout.js';
import { installedHelperPids } from '../../main/install/helper-processes.js';
import { systemdRunning } from '../../main/install/install.js';
import { withSandbox } from '../support/sandbox.js';
import { attachedPrograms } from '../support/cgroup-programs.js';
import { runCli } from '../support/helper-process.js';
import { ensurePolkit } from '../support/polkit-env.js';
import { eventually, present } from '../support/eventually.js';
import {
  assertNotInstalled,
  buildTestBundle,
  deferUninstall,
  ensureSystemBpffs,
  INSTALLED_PATHS,
  writeTestHelperConf,
} from '../support/install-fixture.js';

test('install, doctor all green, uninstall --purge leaves nothing behind', { timeout: 180_000 }, async () => {
  assertNotInstalled();
  await withSandbox(async (sandbox) => {
    await ensurePolkit(sandbox);
    ensureSystemBpffs(sandbox);
    const bundleDir = buildTestBundle(sandbox);
    const paths = writeTestHelperConf(sandbox);
    deferUninstall(sandbox, paths.pinDir);

    // With systemd running, --systemd would start a second helper; without it, it only writes the
    // unit and its enable link, which uninstall must then remove too.
    const withUnit = !systemdRunning();
    const installed = await runCli(['install', '--bundle', bundleDir, ...(withUnit ? ['--systemd'] : [])]);
    assert.equal(installed.code, 0, installed.stderr);
    if (withUnit) {
      assert.equal(lstatSync(LAYOUT.unit).uid, 0);
      assert.equal(readlinkSync(LAYOUT.unitWantsLink), LAYOUT.unit);
    }
    for (const path of [
      LAYOUT.helperEntry,
      LAYOUT.installEntry,
      LAYOUT.cliEntry,
      LAYOUT.manifest,
      LAYOUT.launcher,
      LAYOUT.policy,
      LAYOUT.cliWrapper,
    ]) {
      const stats = lstatSync(path);
      assert.equal(stats.uid, 0, `${path} owned by root`);
      assert.equal(stats.mode & 0o022, 0, `${path} writable only by root`);
    }
    assert.equal(lstatSync(LAYOUT.launcher).mode & 0o777, 0o755);
    // The policy directory, as the helper accepts it: a real directory, root's, 0755.
    const policyDir = lstatSync(LAYOUT.policyDir);
    assert.ok(policyDir.isDirectory(), `${LAYOUT.policyDir} is a directory`);
    assert.equal(policyDir.uid, 0, `${LAYOUT.policyDir} owned by root`);
    assert.equal(policyDir.gid, 0, `${LAYOUT.policyDir} group root`);
    assert.equal(policyDir.mode & 0o7777, 0o755, `${LAYOUT.policyDir} mode 755`);
    assert.deepEqual(readdirSync(LAYOUT.policyDir), [], 'install puts nothing in the policy directory');

    // polkitd itself read the action: one admin, active sessions only.
    const action = spawnSync('pkaction', ['--action-id', POLKIT_ACTION_ID, '--verbose'], { encoding: 'utf8' });
    assert.equal(action.status, 0, action.stderr);
    assert.match(action.stdout, /implicit any:\s+no/);
    assert.match(action.stdout, /implicit inactive:\s+no/);
    assert.match(action.stdout, /implicit active:\s+auth_admin_keep/);
    assert.match(action.stdout, new RegExp(`org\\.freedesktop\\.policykit\\.exec\\.path -> ${LAYOUT.launcher}`));

    // The installed helper, started by its launcher (as systemd or pkexec would), runs from
    // /usr/lib/portcullis with /usr/bin/node and takes its paths from helper.conf.
    const helper = spawn(LAYOUT.launcher, [], { stdio: 'ignore', env: {} });
    sandbox.defer(() => {
      if (helper.exitCode === null) helper.kill('SIGKILL');
    });
    await eventually(() => existsSync(paths.socket), Boolean, "the installed helper's socket", { timeoutMs: 30_000 });
    const client = await HelperClient.connect({ socketPath: paths.socket, clientName: 'install test' });
    const status = await client.call('status');
    assert.equal(status.policy.dir, LAYOUT.policyDir, 'the installed helper reads the policy directory install made');
    assert.equal(status.policy.error, null);

    // A policy file dropped in after install, whole (written beside, renamed in), is applied.
    const policyFile = `${LAYOUT.policyDir}/10-install-test.json`;
    const temp = `${LAYOUT.policyDir}/.10-install-test.json.tmp`;
    writeFileSync(
      temp,
      JSON.stringify({
        format: 'portcullis-rules',
        version: 1,
        rules: [
          {
            action: 'block',
            app: null,
            remote: '203.0.113.77',
            port: '9',
            protocol: 'tcp',
            direction: 'out',
            expiresAt: null,
            note: 'install test policy',
            enabled: true,
          },
        ],
        lists: [],
      }),
    );
    chmodSync(temp, 0o644);
    renameSync(temp, policyFile);
    const managed = await eventually(
      async () => (await client.call('rules.list')).filter((rule) => rule.managedBy === policyFile),
      (rules) => rules.length > 0,
      'the policy file applied by the installed helper',
      { timeoutMs: 15_000, everyMs: 100 },
    );
    assert.deepEqual(
      managed.map((rule) => [rule.action, formatRemote(rule.remote), rule.ports, rule.note]),
      [['block', '203.0.113.77', { from: 9, to: 9 }, 'install test policy']],
    );
    client.close();
    assert.equal(status.attach.cgroup, paths.cgroup);
    assert.equal(status.attach.pinDir, paths.pinDir);
    assert.deepEqual(installedHelperPids(), [helper.pid]);
    assert.ok(attachedPrograms(paths.cgroup).length > 0, 'programs attached to the test cgroup');

    // The installed CLI (the /usr/bin/portcullis wrapper), as root: every check passes.
    const doctor = spawnSync(LAYOUT.cliWrapper, ['doctor', '--json', '--socket', paths.socket], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    const checks = JSON.parse(doctor.stdout) as Check[];
    const failed = checks.filter((check) => !check.ok).map((check) => `${check.id}: ${check.detail}`);
    assert.deepEqual(failed, [], 'doctor: every check green');
    assert.ok(
      checks.some((check) => check.id === 'installed'),
      'doctor reports the install',
    );
    assert.equal(doctor.status, 0);

    const removed = spawnSync(LAYOUT.cliWrapper, ['uninstall', '--purge'], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    assert.equal(removed.status, 0, removed.stderr + removed.stdout);

    // Nothing left, place by place.
    assert.deepEqual(installedHelperPids(), [], 'no installed helper running');
    await eventually(() => helper.exitCode ?? helper.signalCode, present, 'the helper process ended');
    for (const path of INSTALLED_PATHS) assert.equal(existsSync(path), false, `${path} removed`);
    assert.equal(existsSync(paths.pinDir), false, 'pins removed');
    // maps.debug and progs.debug are the kernel's own iterators, present in every bpffs.
    const left = readdirSync(join(paths.pinDir, '..')).filter((name) => !name.endsWith('.debug'));
    assert.deepEqual(left, [], 'the bpffs holds nothing of ours');
    assert.deepEqual(attachedPrograms(paths.cgroup), [], 'nothing attached to the cgroup');
    assert.equal(existsSync(paths.socket), false, 'socket removed');
    assert.equal(existsSync(paths.stateDir), false, 'rules database removed (--purge)');
    assert.equal(existsSync(LAYOUT.policyDir), false, 'policy directory and its file removed (--purge)');
  });
});
