// The polkit action, the launcher and the systemd unit name the same fixed paths as the installer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILES, LAYOUT, MANAGE_ACTION_ID, POLKIT_ACTION_ID } from '../../../main/common/install-layout.js';

const read = (name: string) => readFileSync(join(__dirname, '../../../polkit', name), 'utf8');

test('the action lets only an active local administrator start the launcher', () => {
  const policy = read(`${POLKIT_ACTION_ID}.policy`);
  assert.match(policy, new RegExp(`<action id="${POLKIT_ACTION_ID.replace(/\./g, '\\.')}">`));
  assert.equal(policy.match(/<action /g)?.length, 1, 'exactly one action');
  assert.match(policy, /<allow_any>no<\/allow_any>/);
  assert.match(policy, /<allow_inactive>no<\/allow_inactive>/);
  assert.match(policy, /<allow_active>auth_admin_keep<\/allow_active>/);
  const execPath = policy.match(/<annotate key="org\.freedesktop\.policykit\.exec\.path">([^<]+)<\/annotate>/)?.[1];
  assert.equal(execPath, LAYOUT.launcher);
});

test('loosening asks for an administrator every time, kept only at the active local session; it runs nothing', () => {
  const policy = read(`${MANAGE_ACTION_ID}.policy`);
  assert.equal(`polkit/${MANAGE_ACTION_ID}.policy`, BUNDLE_FILES.managePolicy);
  assert.equal(LAYOUT.managePolicy, `/usr/share/polkit-1/actions/${MANAGE_ACTION_ID}.policy`);
  assert.match(policy, new RegExp(`<action id="${MANAGE_ACTION_ID.replace(/\./g, '\\.')}">`));
  assert.equal(policy.match(/<action /g)?.length, 1, 'exactly one action');
  // Never "yes" and never the caller's own password (auth_self): malware runs as the person.
  assert.match(policy, /<allow_any>auth_admin<\/allow_any>/);
  assert.match(policy, /<allow_inactive>auth_admin<\/allow_inactive>/);
  assert.match(policy, /<allow_active>auth_admin_keep<\/allow_active>/);
  assert.doesNotMatch(policy, /exec\.path|auth_self|>yes</);
});

test('the launcher execs the installed helper with root-owned node and a fresh environment', () => {
  const launcher = read('portcullis-helper-launch');
  const exec = launcher.slice(launcher.indexOf('exec /usr/bin/env -i')).replace(/\\\n\s*/g, '');
  assert.ok(exec.startsWith('exec /usr/bin/env -i '), 'env -i drops the caller environment');
  assert.ok(exec.includes(`${LAYOUT.node} ${LAYOUT.helperEntry}`), exec);
  // Nothing of the caller's command line is passed on: "$@" only carries what the script set itself.
  assert.doesNotMatch(launcher, /\$\*/);
});

test('the systemd unit runs the same entry, with a cut-down bounding set and no new privileges', () => {
  const unit = read('portcullis-helper.service');
  assert.match(unit, new RegExp(`^ExecStart=${LAYOUT.node} ${LAYOUT.helperEntry}$`, 'm'));
  const caps = unit.match(/^CapabilityBoundingSet=(.*)$/m)?.[1]?.split(/\s+/) ?? [];
  // Each one is justified in the unit's header comment (and measured by install-capabilities).
  for (const cap of caps) assert.match(unit, new RegExp(`^#\\s+${cap}\\s+\\S`, 'm'), `${cap} is explained`);
  assert.ok(caps.length > 0 && caps.length <= 6, caps.join(' '));
  for (const line of [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'RuntimeDirectory=portcullis',
    'ProtectHome=read-only',
  ]) {
    assert.match(unit, new RegExp(`^${line}$`, 'm'));
  }
});

test('systemd accepts the unit', (t) => {
  if (!existsSync('/usr/bin/systemd-analyze')) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  const verify = spawnSync(
    'systemd-analyze',
    ['verify', join(__dirname, '../../../polkit/portcullis-helper.service')],
    { encoding: 'utf8' },
  );
  assert.equal(verify.status, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'no warnings');
});
