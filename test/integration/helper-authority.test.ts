// Tightening is free, loosening needs an administrator: a helper from the repository, the real
// polkitd and pkcheck, and throwaway users the helper serves (root lists them in authorizedUsers).
// - A user without the manage grant blocks; disable, pause, allow, unblock, narrowing a block, a
//   mixed import chunk, an allow default (global or per app) and settings are refused (exit 1,
//   unauthorized), and the rules store, the settings and the kernel's verdicts are as before.
// - With the grant (a polkit rules file) each succeeds; authorizedUsers changes only as root.
// - A connection whose process exited, or whose pid now belongs to another process of the same
//   user (one polkit would allow), is refused.
// - At a terminal the CLI registers polkit's terminal agent: an administrator types the password
//   there and the change goes through, while the helper keeps serving others. A dialog nobody
//   answers is refused when its time is up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { PROTOCOL_VERSION, PortcullisError, type Rule } from '../../main/contract/index.js';
import { MANAGE_ACTION_ID } from '../../main/common/install-layout.js';
import { processStartTime } from '../../main/common/process-start.js';
import { Authority } from '../../main/helper/authority/authority.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { Sandbox } from '../support/sandbox.js';
import { CLI_ARGV, HelperProcess, REPO_ROOT, type CliResult } from '../support/helper-process.js';
import { SYSTEM_PYTHON, probeOne } from '../support/connect-probe.js';
import {
  ensurePolkit,
  grantAction,
  installManageAction,
  makeAdministrator,
  makeUser,
  type TestUser,
} from '../support/polkit-env.js';
import { eventually } from '../support/eventually.js';

const sandbox = new Sandbox();
let helper: HelperProcess;
let root: HelperClient;
/** Authorised, without the manage grant. */
let plain: TestUser;
/** Authorised, granted org.portcullis.manage by a rules file. */
let manager: TestUser;
/** Blocks 127.0.0.32 (unblock and narrowing tests). */
let blockRule: Rule;
/** Blocks 127.0.1.0/24, so that an allow rule for one of its addresses shows in the kernel. */
let rangeRule: Rule;
/** The app of the probes (they run /usr/bin/python3). */
let pythonApp: number;

before(async () => {
  await ensurePolkit(sandbox);
  await installManageAction(sandbox);
  plain = makeUser(sandbox, 'pl');
  manager = makeUser(sandbox, 'mg');
  await grantAction(sandbox, manager, MANAGE_ACTION_ID);
  helper = await HelperProcess.start(sandbox);
  root = await helper.client('root');
  await root.call('settings.update', { patch: { authorizedUsers: [plain.uid, manager.uid] } });
  blockRule = await root.call('rules.add', { rule: { action: 'block', remote: '127.0.0.32', note: 'set by root' } });
  rangeRule = await root.call('rules.add', { rule: { action: 'block', remote: '127.0.1.0/24', note: 'set by root' } });
  const perApp = await root.call('rules.add', {
    rule: { action: 'block', app: SYSTEM_PYTHON, remote: '127.0.0.40', note: "names the probes' app" },
  });
  pythonApp = perApp.appId!;
});

after(() => sandbox.dispose());

/** Runs argv as a test user (runuser: no setuid in between, no login session). */
function runAs(
  user: TestUser,
  argv: string[],
  options: {
    onStdout?: (text: string) => void;
    onStderr?: (text: string) => void;
    keep?: (child: ChildProcess) => void;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('runuser', ['-u', user.name, '--', ...argv], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    options.keep?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      options.onStdout?.(stdout);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      options.onStderr?.(stderr);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const cli = (user: TestUser, args: string[]) => runAs(user, [...CLI_ARGV, '--socket', helper.paths.socket, ...args]);

type CallOutcome = { ok: true; result: unknown } | { ok: false; kind: string; message: string; polkitAction?: string };

/** One RPC request as a test user, through the one helper client. */
async function callAs(user: TestUser, method: string, params: unknown): Promise<CallOutcome> {
  const run = await runAs(user, [
    process.execPath,
    '--import',
    'tsx',
    join(REPO_ROOT, 'test/support/call-as-caller.ts'),
    helper.paths.socket,
    method,
    JSON.stringify(params),
  ]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as CallOutcome;
}

const probe = (host: string, port = 9) => probeOne(sandbox, helper.paths.cgroup, host, port);

/** What a refusal must leave as it was: the stored rules (without hit counts), settings, enforcement, apps. */
async function snapshot() {
  const [rules, settings, status, apps] = await Promise.all([
    root.call('rules.list'),
    root.call('settings.get'),
    root.call('status'),
    root.call('apps.list'),
  ]);
  return {
    rules: rules.map(({ hits: _hits, ...rule }) => rule),
    settings,
    enforcement: { enforcing: status.enforcing, pausedUntil: status.pausedUntil, defaultAction: status.defaultAction },
    appDefaults: apps.map((app) => [app.id, app.defaultAction]),
  };
}

function assertRefused(result: CliResult, what: RegExp): void {
  assert.equal(result.code, 1, `exit 1 expected: ${result.stderr}`);
  assert.match(result.stderr, what);
  assert.match(
    result.stderr,
    /needs an administrator: no polkit authentication agent could ask for an administrator's password/,
  );
  assert.equal(result.stdout, '');
}

test('lists without the manage grant: importing is free (an allow list arrives disabled); disabling or removing a block list, enabling an allow list and a document with an allow rule are refused', async () => {
  const dir = sandbox.makeTempDir('lists-authority');
  chmodSync(dir, 0o755);
  const served = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    chmodSync(path, 0o644);
    return path;
  };
  assert.equal(await probe('127.0.3.1'), 'refused', 'reachable before the list');
  const blocks = await cli(plain, ['import', served('blocks.txt', '127.0.3.1\n127.0.3.2\n'), '--list', 'plain-blocks']);
  assert.equal(blocks.code, 0, blocks.stderr);
  const opens = await cli(plain, [
    'import',
    served('opens.txt', '127.0.1.71\n'),
    '--list',
    'plain-opens',
    '--action',
    'allow',
  ]);
  assert.equal(opens.code, 0, opens.stderr);
  assert.equal(await probe('127.0.3.1'), 'EPERM', 'a block list is enforced');
  assert.equal(await probe('127.0.1.71'), 'EPERM', 'an allow list arrives disabled');

  assertRefused(
    await cli(plain, ['lists', 'disable', 'plain-blocks']),
    /Disabling block list "plain-blocks" \(2 entries\) needs an administrator/,
  );
  assertRefused(await cli(plain, ['lists', 'remove', 'plain-blocks']), /Removing block list "plain-blocks"/);
  assertRefused(
    await cli(plain, ['lists', 'enable', 'plain-opens']),
    /Enabling allow list "plain-opens" \(1 entry\) needs an administrator/,
  );
  const document = served(
    'document.json',
    JSON.stringify({ format: 'portcullis-rules', version: 1, rules: [{ action: 'allow', remote: '127.0.1.72' }] }),
  );
  assertRefused(
    await cli(plain, ['import', document]),
    /Adding an allow rule \(allow 127\.0\.1\.72\) needs an administrator/,
  );
  const lists = await root.call('lists.list');
  assert.deepEqual(
    lists.map((list) => [list.name, list.enabled, list.entryCount]),
    [
      ['plain-blocks', true, 2],
      ['plain-opens', false, 1],
    ],
    'the refused requests changed no list',
  );
  assert.equal((await root.call('rules.list')).filter((rule) => rule.action === 'allow').length, 0);
  assert.equal(await probe('127.0.3.1'), 'EPERM');
  assert.equal(await probe('127.0.1.72'), 'EPERM');

  // Root may: the review opens the allow list, the block list goes.
  assert.equal((await helper.cli(['lists', 'enable', 'plain-opens'])).code, 0);
  assert.equal(await probe('127.0.1.71'), 'refused', 'reviewed: the allow entry beats the /24 block');
  for (const name of ['plain-blocks', 'plain-opens'])
    assert.equal((await helper.cli(['lists', 'remove', name])).code, 0, name);
  assert.equal(await probe('127.0.3.1'), 'refused');
  assert.equal(await probe('127.0.1.71'), 'EPERM');
});

test('without the manage grant: blocking works; loosening is refused and changes nothing in the store or the kernel', async () => {
  assert.equal(await probe('127.0.0.31'), 'refused', 'reachable before the block');
  const blocked = await cli(plain, ['block', '127.0.0.31', '--note', 'by an authorised user']);
  assert.equal(blocked.code, 0, blocked.stderr);
  assert.equal(await probe('127.0.0.31'), 'EPERM', 'blocking is free and enforced');

  const start = await snapshot();
  assertRefused(
    await cli(plain, ['unblock', String(blockRule.id)]),
    new RegExp(`Removing block rule ${blockRule.id} \\(block 127\\.0\\.0\\.32\\) needs an administrator`),
  );
  assertRefused(await cli(plain, ['unblock', '127.0.0.32']), /Removing block rule/);
  assertRefused(await cli(plain, ['disable']), /Turning enforcement off needs an administrator/);
  assertRefused(await cli(plain, ['disable', '--for', '5m']), /Pausing enforcement for 5 min needs an administrator/);
  assertRefused(
    await cli(plain, ['allow', '127.0.1.33']),
    /Adding an allow rule \(allow 127\.0\.1\.33\) needs an administrator/,
  );
  assert.equal(await probe('127.0.0.32'), 'EPERM', 'the block rule is still enforced');
  assert.equal(await probe('127.0.1.33'), 'EPERM', 'no allow rule reached the kernel');

  // A chunk mixing blocks and allows asks once, and is refused as a whole.
  const mixed = await callAs(plain, 'rules.addMany', {
    rules: [
      { action: 'block', remote: '127.0.1.60' },
      { action: 'allow', remote: '127.0.1.61' },
      { action: 'allow', remote: '127.0.1.62' },
    ],
  });
  // The refusal names the polkit action that could allow it (a UI offers to try again).
  assert.deepEqual(mixed.ok ? mixed : { kind: mixed.kind, polkitAction: mixed.polkitAction }, {
    kind: 'unauthorized',
    polkitAction: MANAGE_ACTION_ID,
  });
  assert.match(
    (mixed as { message: string }).message,
    /^Adding 2 allow rules \(the first: allow 127\.0\.1\.61\) needs an administrator/,
  );
  // Narrowing a block rule (to one port) is loosening; widening its ports is not.
  const narrowed = await callAs(plain, 'rules.update', { id: blockRule.id, patch: { port: 80 } });
  assert.match(
    narrowed.ok ? 'ok' : narrowed.message,
    new RegExp(`^Narrowing block rule ${blockRule.id} .* to block 127\\.0\\.0\\.32 port 80 needs an administrator`),
  );
  const disabled = await callAs(plain, 'rules.update', { id: blockRule.id, patch: { enabled: false } });
  assert.match(disabled.ok ? 'ok' : disabled.message, /^Disabling block rule/);
  const shortened = await callAs(plain, 'rules.update', { id: blockRule.id, patch: { for: '1h' } });
  assert.match(shortened.ok ? 'ok' : shortened.message, /^Making block rule .* expire sooner needs an administrator/);
  assert.equal(await probe('127.0.0.32'), 'EPERM');
  assert.deepEqual(await snapshot(), start, 'the refused requests changed nothing');

  // Allow-list mode, set by root: the default and the app's default are what the kernel applies to 127.0.2.50.
  await root.call('settings.update', { patch: { defaultAction: 'block' } });
  assert.equal(await probe('127.0.2.50'), 'EPERM');
  const listMode = await snapshot();
  assertRefused(
    await cli(plain, ['settings', '--default-action', 'allow']),
    /Setting the default to allow \(monitor mode\) needs an administrator/,
  );
  assertRefused(
    await cli(plain, ['settings', '--retention-days', '7']),
    /Keeping history 7 days instead of 30 needs an administrator/,
  );
  assertRefused(
    await cli(plain, ['app-default', String(pythonApp), 'allow']),
    /Letting .* connect wherever no rule decides needs an administrator/,
  );
  assert.equal(await probe('127.0.2.50'), 'EPERM', 'neither default reached the kernel');
  const users = await cli(plain, ['settings', '--authorized-users', `${plain.uid}`]);
  assert.equal(users.code, 1);
  assert.match(users.stderr, /only root changes authorizedUsers/);
  assert.deepEqual(await snapshot(), listMode, 'the refused requests changed nothing');

  // Tightening stays free: enforcement on, a block default, the person's own notification preference.
  assert.equal((await cli(plain, ['enable'])).code, 0);
  assert.equal((await cli(plain, ['app-default', String(pythonApp), 'block'])).code, 0);
  const notify = await cli(plain, [
    'settings',
    '--notify-on-first-block',
    'off',
    '--default-action',
    'block',
    '--json',
  ]);
  assert.equal(notify.code, 0, notify.stderr);
  assert.equal(JSON.parse(notify.stdout).notifyOnFirstBlock, false);
  assert.match(
    helper.logs,
    new RegExp(
      `removing block rule ${blockRule.id} \\(block 127\\.0\\.0\\.32\\): refused \\(no polkit authentication agent`,
    ),
  );
});

test('with the manage grant each loosening goes through; authorizedUsers still changes only as root', async () => {
  await root.call('settings.update', { patch: { defaultAction: 'allow' } });
  await root.call('apps.setDefault', { appId: pythonApp, action: null });

  const unblocked = await cli(manager, ['unblock', String(blockRule.id)]);
  assert.equal(unblocked.code, 0, unblocked.stderr);
  assert.equal(await probe('127.0.0.32'), 'refused', 'the block is gone from the kernel');
  const allowed = await cli(manager, ['allow', '127.0.1.33', '--note', 'an administrator allowed it']);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.equal(await probe('127.0.1.33'), 'refused', 'the allow rule beats the /24 block');
  assert.equal(await probe('127.0.1.34'), 'EPERM', 'the rest of the /24 is still blocked');
  const mixed = await callAs(manager, 'rules.addMany', {
    rules: [
      { action: 'block', remote: '127.0.1.60' },
      { action: 'allow', remote: '127.0.1.61' },
    ],
  });
  assert.equal(mixed.ok, true, JSON.stringify(mixed));
  const narrowed = await callAs(manager, 'rules.update', { id: rangeRule.id, patch: { port: 80 } });
  assert.equal(narrowed.ok, true, JSON.stringify(narrowed));
  assert.equal(await probe('127.0.1.34', 9), 'refused', 'the narrowed block lets port 9 through');

  const retention = await cli(manager, ['settings', '--retention-days', '7', '--json']);
  assert.equal(retention.code, 0, retention.stderr);
  assert.equal(JSON.parse(retention.stdout).retentionDays, 7);
  await root.call('settings.update', { patch: { defaultAction: 'block' } });
  assert.equal(await probe('127.0.2.50'), 'EPERM');
  const appDefault = await cli(manager, ['app-default', String(pythonApp), 'allow']);
  assert.equal(appDefault.code, 0, appDefault.stderr);
  assert.equal(await probe('127.0.2.50'), 'refused', "the app's allow default is enforced");
  const monitor = await cli(manager, ['settings', '--default-action', 'allow']);
  assert.equal(monitor.code, 0, monitor.stderr);
  assert.equal((await root.call('status')).defaultAction, 'allow');

  const paused = await cli(manager, ['disable', '--for', '5m', '--json']);
  assert.equal(paused.code, 0, paused.stderr);
  assert.equal(JSON.parse(paused.stdout).enforcing, false);
  assert.equal(await probe('127.0.0.31'), 'refused', 'paused: the block rule does not apply');
  assert.equal((await cli(plain, ['enable'])).code, 0, 'turning it back on is free');
  assert.equal(await probe('127.0.0.31'), 'EPERM');

  const users = await cli(manager, ['settings', '--authorized-users', `${plain.uid},${manager.uid},4242`]);
  assert.equal(users.code, 1, 'the grant does not cover who may use the helper');
  assert.match(users.stderr, /only root changes authorizedUsers/);
  assert.deepEqual((await root.call('settings.get')).authorizedUsers, [plain.uid, manager.uid]);
  await root.call('settings.update', { patch: { authorizedUsers: [plain.uid, manager.uid, 4242] } });
  assert.deepEqual((await root.call('settings.get')).authorizedUsers, [plain.uid, manager.uid, 4242]);
  await root.call('settings.update', { patch: { authorizedUsers: [plain.uid, manager.uid] } });
  assert.match(helper.logs, /pausing enforcement for 5 min: an administrator allowed it/);
});

// A client that connects, hands its connection to a child and exits. The child waits until a file
// appears (at most 2 minutes), then asks to pause enforcement on the inherited connection and prints
// the reply.
const ORPHANED_CONNECTION = `
import json, os, socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
replies = s.makefile('rb')
def call(id, method, params):
    s.sendall((json.dumps({'jsonrpc': '2.0', 'id': id, 'method': method, 'params': params}) + '\\n').encode())
    return json.loads(replies.readline())
call(1, 'hello', {'protocol': int(sys.argv[2]), 'client': 'orphaned connection'})
print(os.getpid(), flush=True)
if os.fork() != 0:
    os._exit(0)
deadline = time.time() + 120
while not os.path.exists(sys.argv[3]) and time.time() < deadline:
    time.sleep(0.05)
print(json.dumps(call(2, 'enforcement.set', {'enabled': False, 'pauseMinutes': 1})), flush=True)
`;

// Forks until a child gets the given pid (then that child becomes "sleep 600", killed at cleanup);
// bounded in count and time. vfork: a whole round of pids in seconds (fork takes minutes here); the
// child only makes syscalls before it execs or exits.
const PID_CYCLER = `
#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  pid_t target = (pid_t)atoi(argv[1]);
  long limit = atol(argv[2]);
  time_t deadline = time(NULL) + atoi(argv[3]);
  for (long i = 0; i < limit && time(NULL) < deadline; i++) {
    pid_t pid = vfork();
    if (pid < 0) return 2;
    if (pid == 0) {
      if (getpid() == target) {
        int null = open("/dev/null", O_RDWR);  /* the test's pipes stay the test's */
        dup2(null, 0); dup2(null, 1); dup2(null, 2);
        execl("/bin/sleep", "sleep", "600", (char *)NULL);
      }
      _exit(0);
    }
    if (pid == target) return 0;
    waitpid(pid, NULL, 0);
  }
  return 1;
}
`;

/** Starts ORPHANED_CONNECTION as `user`; resolves once the connecting process has exited. */
async function orphanedConnection(user: TestUser): Promise<{
  pid: number;
  ask(): Promise<{ error?: { message: string; data: { kind: string; polkitAction?: string } } }>;
}> {
  let out = '';
  const dir = sandbox.makeTempDir('go');
  chmodSync(dir, 0o755);
  const go = join(dir, 'go');
  const run = runAs(
    user,
    [SYSTEM_PYTHON, '-c', ORPHANED_CONNECTION, helper.paths.socket, String(PROTOCOL_VERSION), go],
    {
      onStdout: (text) => {
        out = text;
      },
    },
  );
  sandbox.defer(async () => {
    writeFileSync(go, '');
    await run;
  });
  await eventually(
    () => out,
    (said) => /^[0-9]+\n/.test(said),
    'the client connected (its pid printed)',
  );
  const pid = Number(out.split('\n')[0]);
  await eventually(
    () => existsSync(`/proc/${pid}`),
    (exists) => !exists,
    `the connecting process ${pid} gone`,
  );
  return {
    pid,
    async ask() {
      writeFileSync(go, '');
      await eventually(
        () => out,
        (said) => said.split('\n').length >= 3,
        'the reply to the request',
      );
      return JSON.parse(out.split('\n')[1]!) as {
        error?: { message: string; data: { kind: string; polkitAction?: string } };
      };
    },
  };
}

test('a connection whose process exited, or whose pid now belongs to another process, is refused even with the grant', async () => {
  const gone = await orphanedConnection(manager);
  const goneReply = await gone.ask();
  assert.deepEqual(goneReply.error?.data, { kind: 'unauthorized', polkitAction: MANAGE_ACTION_ID });
  assert.match(
    goneReply.error!.message,
    /^Pausing enforcement for 1 min needs an administrator: the process that opened this connection has exited/,
  );

  const dir = sandbox.makeTempDir('cycler');
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'cycler.c'), PID_CYCLER);
  execFileSync('cc', ['-O2', '-o', join(dir, 'cycler'), join(dir, 'cycler.c')]);
  const reused = await orphanedConnection(manager);
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const cycled = await runAs(manager, [join(dir, 'cycler'), String(reused.pid), String(2 * pidMax), '90']);
  sandbox.defer(() => {
    try {
      if (readFileSync(`/proc/${reused.pid}/cmdline`, 'utf8').startsWith('sleep\0'))
        process.kill(reused.pid, 'SIGKILL');
    } catch {
      // gone
    }
  });
  assert.equal(cycled.code, 0, `the pid ${reused.pid} came round to the user's own process: ${cycled.stderr}`);
  // The process now holding that pid is one polkit would allow (its user has the grant) ...
  const holder = `${reused.pid},${processStartTime(reused.pid)},${manager.uid}`;
  assert.equal(
    spawnSync('pkcheck', ['--action-id', MANAGE_ACTION_ID, '--process', holder], { stdio: 'ignore' }).status,
    0,
  );
  // ... but it is not the process that connected.
  const reply = await reused.ask();
  assert.equal(reply.error?.data.kind, 'unauthorized');
  assert.match(
    reply.error!.message,
    /the process that opened this connection has exited and its pid belongs to another process now/,
  );
  assert.equal((await root.call('status')).enforcing, true);
});

/** The pids of a process and every process below it. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Runs a shell command as `user` on a terminal of its own (script's pty); what it prints is collected. */
function onTerminal(user: TestUser, command: string) {
  let output = '';
  let errors = '';
  let child: ChildProcess | null = null;
  // The test users' login shell is nologin; script runs the command with $SHELL.
  const done = runAs(user, ['env', 'SHELL=/bin/sh', 'script', '-qfec', command, '/dev/null'], {
    keep: (c) => {
      child = c;
    },
    onStdout: (text) => {
      output = text;
    },
    onStderr: (text) => {
      errors = text;
    },
  });
  sandbox.defer(async () => {
    for (const pid of processTree(child!.pid!).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await done;
  });
  return { done, output: () => output, errors: () => errors, type: (text: string) => child!.stdin!.write(text) };
}

test("at a terminal, an administrator authenticates through the CLI's agent; the helper serves others meanwhile", async () => {
  const admin = await makeAdministrator(sandbox, 'ad', 'pcl-test-password', MANAGE_ACTION_ID);
  const rule = await root.call('rules.add', { rule: { action: 'block', remote: '127.0.0.34' } });
  const terminal = onTerminal(
    plain,
    [...CLI_ARGV, '--socket', helper.paths.socket, 'unblock', String(rule.id)].join(' '),
  );
  await eventually(terminal.output, (shown) => /Password: *$/.test(shown), 'the password prompt', {
    timeoutMs: 30_000,
    describe: (shown) => `${shown}\n${terminal.errors()}\n${helper.logs.split('\n').slice(-5).join('\n')}`,
  });
  assert.match(terminal.output(), new RegExp(`AUTHENTICATING FOR ${MANAGE_ACTION_ID.replace(/\./g, '\\.')}`));
  assert.match(
    terminal.output(),
    new RegExp(
      `let more traffic through the Portcullis firewall: removing block rule ${rule.id} \\(block 127\\.0\\.0\\.34\\)`,
    ),
  );
  assert.match(terminal.output(), new RegExp(`Authenticating as: .*${admin.name}`));

  // While the dialog waits, other clients are served.
  assert.equal((await root.call('status')).pid, helper.pid);
  const other = await cli(manager, ['block', '127.0.0.35']);
  assert.equal(other.code, 0, other.stderr);
  assert.ok(
    (await root.call('rules.list')).some((r) => r.id === rule.id),
    'nothing removed before the password',
  );

  terminal.type('pcl-test-password\n');
  const result = await terminal.done;
  assert.equal(result.code, 0, terminal.output());
  assert.match(terminal.output(), new RegExp(`removed rule ${rule.id}`));
  assert.equal(
    (await root.call('rules.list')).some((r) => r.id === rule.id),
    false,
  );
  assert.equal(await probe('127.0.0.34'), 'refused');
});

test('a dialog nobody answers is refused when its time is up', async () => {
  // A process of the user that is its own authentication agent: the helper's question shows there.
  const terminal = onTerminal(plain, 'echo PID=$$; exec /usr/bin/pkttyagent --process $$');
  await eventually(terminal.output, (shown) => /PID=[0-9]+/.test(shown), 'the agent started (its pid printed)');
  const pid = Number(/PID=([0-9]+)/.exec(terminal.output())![1]);
  await new Promise((resolve) => setTimeout(resolve, 1000)); // registered by now (pkttyagent has no output to wait for)
  const logs: string[] = [];
  const authority = new Authority({ actionId: MANAGE_ACTION_ID, log: (line) => logs.push(line), timeoutMs: 3000 });
  const caller = {
    socket: new Socket(),
    peer: { pid, uid: plain.uid, gid: plain.uid },
    describe: () => `test caller pid ${pid}`,
    onClose: () => undefined,
  };
  authority.notePeer(caller.socket, caller.peer);
  const refused = await authority.request(caller, 'testing a dialog nobody answers').then(
    () => null,
    (error: unknown) => error,
  );
  assert.ok(refused instanceof PortcullisError, String(refused));
  assert.equal(refused.kind, 'unauthorized');
  assert.equal(
    refused.message,
    'Testing a dialog nobody answers needs an administrator: no administrator answered within 3 s',
  );
  assert.match(terminal.output(), /let more traffic through the Portcullis firewall: testing a dialog nobody answers/);
  assert.match(logs.join('\n'), /refused \(no administrator answered within 3 s\)/);
});
