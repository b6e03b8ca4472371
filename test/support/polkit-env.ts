// Real polkit for tests: the system D-Bus and polkitd (started when not running, stopped again),
// throwaway users, polkit rules files that grant a user one action or name its administrator, and
// the repository's manage action. Everything is registered on the Sandbox, so it is undone even
// when the test fails.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sandbox } from './sandbox.js';
import { MANAGE_ACTION_ID } from '../../main/common/install-layout.js';
import { REPO_ROOT } from './helper-process.js';
import { eventually } from './eventually.js';

const DBUS_SOCKET = '/run/dbus/system_bus_socket';
const DBUS_PID_FILE = '/run/dbus/pid';
const POLKITD = '/usr/lib/polkit-1/polkitd';
const RULES_DIR = '/etc/polkit-1/rules.d';
const ACTIONS_DIR = '/usr/share/polkit-1/actions';
const REPO_POLKIT_DIR = join(REPO_ROOT, 'polkit');

/** pids whose command name (comm) is `name`. */
export function pidsNamed(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) === name && !/\) Z/.test(stat))
        pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Starts the system bus and polkitd if they are not running; stops what it started on cleanup. */
export async function ensurePolkit(sandbox: Sandbox): Promise<void> {
  if (pidsNamed('dbus-daemon').length === 0 || !existsSync(DBUS_SOCKET)) {
    mkdirSync('/run/dbus', { recursive: true });
    rmSync(DBUS_PID_FILE, { force: true }); // a stale pid file stops dbus-daemon from starting
    const pid = Number(execFileSync('dbus-daemon', ['--system', '--fork', '--print-pid'], { encoding: 'utf8' }).trim());
    sandbox.defer(() => {
      stopPid(pid);
      rmSync(DBUS_PID_FILE, { force: true });
      rmSync(DBUS_SOCKET, { force: true });
    });
  }
  if (pidsNamed('polkitd').length === 0) {
    const child = spawn(POLKITD, ['--no-debug'], { stdio: 'ignore' });
    sandbox.defer(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    });
    // polkitd answers once it owns its bus name.
    await eventually(() => busNameOwned('org.freedesktop.PolicyKit1'), Boolean, 'polkitd owning its bus name', {
      everyMs: 100,
    });
  }
}

function busNameOwned(name: string): boolean {
  const run = spawnSync('busctl', ['--system', 'status', name], { stdio: 'ignore' });
  return run.status === 0;
}

function stopPid(pid: number): void {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

export interface TestUser {
  name: string;
  uid: number;
}

/** A throwaway system user (no home, no login shell), removed on cleanup. */
export function makeUser(sandbox: Sandbox, label: string): TestUser {
  const name = `pcl${label}${sandbox.tag}`.slice(0, 30);
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  sandbox.defer(() => {
    // What the user's processes left in the temp dir (tsx's cache, helper logs) goes with the user.
    for (const entry of readdirSync(tmpdir())) {
      const path = join(tmpdir(), entry);
      if (lstatSync(path).uid === uid) rmSync(path, { recursive: true, force: true });
    }
    execFileSync('userdel', [name]);
  });
  return { name, uid };
}

/** A polkit rules file answering YES for this user and action (no agent or session needed). */
export async function grantAction(sandbox: Sandbox, user: TestUser, actionId: string): Promise<void> {
  const path = `${RULES_DIR}/10-portcullis-test-${sandbox.tag}-${user.name}.rules`;
  writeFileSync(
    path,
    `// Written by a Portcullis test; removed when it ends.\npolkit.addRule(function (action, subject) {\n` +
      `  if (action.id == ${JSON.stringify(actionId)} && subject.user == ${JSON.stringify(user.name)}) return polkit.Result.YES;\n});\n`,
    { mode: 0o644 },
  );
  sandbox.defer(() => rmSync(path, { force: true }));
  // polkitd reloads rules on change; wait until it answers yes for a process of this user.
  await eventually(() => isAuthorized(user, actionId), Boolean, `polkitd applying ${path}`, { everyMs: 100 });
}

/** pkcheck run as the user for its own process: does polkit grant the action without a dialog? */
export function isAuthorized(user: TestUser, actionId: string): boolean {
  const run = spawnSync(
    'runuser',
    ['-u', user.name, '--', 'sh', '-c', 'exec pkcheck --action-id "$0" --process $$', actionId],
    { stdio: 'ignore' },
  );
  return run.status === 0;
}

/**
 * Puts the repository's org.portcullis.manage action where polkitd reads actions (a helper run
 * from the repository asks polkit for it) and waits until polkitd knows it; removed on cleanup.
 * An installed copy that is the same file is used as it is and left in place.
 */
export async function installManageAction(sandbox: Sandbox): Promise<void> {
  const source = join(REPO_POLKIT_DIR, `${MANAGE_ACTION_ID}.policy`);
  const target = `${ACTIONS_DIR}/${MANAGE_ACTION_ID}.policy`;
  if (existsSync(target)) {
    if (readFileSync(target, 'utf8') !== readFileSync(source, 'utf8'))
      throw new Error(`${target} exists and differs from ${source}; remove it or reinstall first`);
  } else {
    copyFileSync(source, target);
    chmodSync(target, 0o644);
    sandbox.defer(() => rmSync(target, { force: true }));
  }
  await eventually(
    () => spawnSync('pkaction', ['--action-id', MANAGE_ACTION_ID], { stdio: 'ignore' }).status === 0,
    Boolean,
    `polkitd knowing the action in ${target}`,
    { everyMs: 100 },
  );
}

/**
 * A test user with a password who is the administrator polkit asks for when `actionId` needs one
 * (an addAdminRule in a rules file read before the system's default, which names group sudo).
 */
export async function makeAdministrator(
  sandbox: Sandbox,
  label: string,
  password: string,
  actionId: string,
): Promise<TestUser> {
  const user = makeUser(sandbox, label);
  execFileSync('chpasswd', { input: `${user.name}:${password}\n` });
  const path = `${RULES_DIR}/09-portcullis-test-admin-${sandbox.tag}-${user.name}.rules`;
  writeFileSync(
    path,
    `// Written by a Portcullis test; removed when it ends.\npolkit.addAdminRule(function (action, subject) {\n` +
      `  if (action.id == ${JSON.stringify(actionId)}) return [${JSON.stringify(`unix-user:${user.name}`)}];\n});\n`,
    { mode: 0o644 },
  );
  sandbox.defer(() => rmSync(path, { force: true }));
  // polkitd reloads rules files on change; give it the moment it takes (no query shows admin rules).
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return user;
}
