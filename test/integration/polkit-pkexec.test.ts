// The helper started through the real pkexec and polkitd, as unprivileged test users:
// - a user without the grant is refused (127, reported as 'unauthorized') and no helper runs;
// - the launcher refuses extra arguments, also when pkexec would pass them;
// - a user granted org.portcullis.helper by a rules file starts the helper (through the app's
//   launchHelper) with a hostile environment (NODE_OPTIONS, LD_PRELOAD) that reaches nothing
//   running as root, and then blocks traffic from the test cgroup with the installed CLI.
// - an administrator (granted pkexec's generic exec action) uninstalls and installs through pkexec,
//   the wizard's path for the AppImage; the user without the grant cannot.
// The bundle is installed to the real paths, as the deb's postinst does, and removed afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { LAYOUT, POLKIT_ACTION_ID } from '../../main/common/install-layout.js';
import { installedHelperPids } from '../../main/install/helper-processes.js';
import { installProblems } from '../../main/install/state.js';
import { Sandbox } from '../support/sandbox.js';
import { REPO_ROOT } from '../support/helper-process.js';
import { ensurePolkit, grantAction, makeUser, type TestUser } from '../support/polkit-env.js';
import { eventually } from '../support/eventually.js';
import {
  assertNotInstalled,
  buildTestBundle,
  deferUninstall,
  installBundle,
  writeTestHelperConf,
  type TestInstall,
} from '../support/install-fixture.js';

const sandbox = new Sandbox();
let paths: Omit<TestInstall, 'bundleDir'>;
let granted: TestUser;
let stranger: TestUser;
let admin: TestUser;
let bundleDir: string;
let evilDir: string;

before(async () => {
  assertNotInstalled();
  await ensurePolkit(sandbox);
  bundleDir = buildTestBundle(sandbox);
  paths = writeTestHelperConf(sandbox);
  deferUninstall(sandbox, paths.pinDir);
  const installed = installBundle(bundleDir);
  assert.equal(installed.code, 0, installed.stderr);
  granted = makeUser(sandbox, 'ok');
  stranger = makeUser(sandbox, 'no');
  admin = makeUser(sandbox, 'adm');
  await grantAction(sandbox, granted, POLKIT_ACTION_ID);
  await grantAction(sandbox, admin, 'org.freedesktop.policykit.exec');
  evilDir = makeEvilFiles();
});

after(() => sandbox.dispose());

/** Runs a command as a test user (runuser: no setuid in between, so the environment is exactly `env`). */
function runAs(user: TestUser, argv: string[], env: Record<string, string> = {}) {
  const envArgs = Object.entries(env).map(([key, value]) => `${key}=${value}`);
  return spawnSync('runuser', ['-u', user.name, '--', '/usr/bin/env', ...envArgs, ...argv], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

type CallerResult = { ok: boolean; kind?: string; message?: string; pid?: number; alreadyRunning?: boolean };

function callerAs(user: TestUser, args: string[], env: Record<string, string> = {}): CallerResult {
  const run = runAs(
    user,
    [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'test/support/launch-helper-as-caller.ts'), ...args],
    env,
  );
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as CallerResult;
}

const launchAs = (user: TestUser, env: Record<string, string> = {}) => callerAs(user, ['launch', paths.socket], env);

/**
 * A --require script and an LD_PRELOAD library that append "<what> <uid> <euid>" to a marker file
 * whenever something loads them: the marker shows exactly which processes they reached.
 */
function makeEvilFiles(): string {
  const dir = sandbox.makeTempDir('evil');
  chmodSync(dir, 0o755);
  const marker = join(dir, 'marker');
  writeFileSync(marker, '');
  chmodSync(marker, 0o666);
  writeFileSync(
    join(dir, 'evil.js'),
    `require('fs').appendFileSync(${JSON.stringify(marker)}, 'js ' + process.getuid() + ' ' + process.geteuid() + '\\n');\n`,
  );
  writeFileSync(
    join(dir, 'evil.c'),
    `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void evil(void) {\n` +
      `  FILE *f = fopen(${JSON.stringify(marker)}, "a"); if (f) { fprintf(f, "so %d %d\\n", (int)getuid(), (int)geteuid()); fclose(f); }\n}\n`,
  );
  execFileSync('cc', ['-shared', '-fPIC', '-o', join(dir, 'evil.so'), join(dir, 'evil.c')]);
  return dir;
}

function markerLines(): string[] {
  return readFileSync(join(evilDir, 'marker'), 'utf8').split('\n').filter(Boolean);
}

/** A connect from a process inside the test cgroup: "connected" or the error code. */
function probe(port: number): string {
  const script = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  const run = spawnSync(
    'sh',
    ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', paths.cgroup, process.execPath, '-e', script],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return run.stdout.trim();
}

test('a user without the grant is refused (127) and no helper runs', () => {
  const direct = runAs(stranger, ['/usr/bin/pkexec', LAYOUT.launcher]);
  assert.equal(direct.status, 127, direct.stderr);

  const launched = launchAs(stranger);
  assert.deepEqual({ ok: launched.ok, kind: launched.kind }, { ok: false, kind: 'unauthorized' });
  assert.match(launched.message!, /not authorised/);

  // The same through the installed CLI: a plain message and exit status 1.
  const cli = runAs(stranger, [LAYOUT.cliWrapper, '--socket', paths.socket, 'start']);
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /not authorised to start the firewall helper/);

  assert.deepEqual(installedHelperPids(), [], 'no helper running');
  assert.equal(existsSync(paths.socket), false, 'no socket');
});

test('the launcher refuses arguments, through pkexec and when run directly', () => {
  const viaPkexec = runAs(granted, ['/usr/bin/pkexec', LAYOUT.launcher, '--cgroup', '/sys/fs/cgroup']);
  assert.equal(viaPkexec.status, 64, viaPkexec.stderr);
  assert.match(viaPkexec.stderr, /takes no arguments/);

  const direct = spawnSync(LAYOUT.launcher, ['--socket', '/tmp/x'], { encoding: 'utf8' });
  assert.equal(direct.status, 64);
  const forgedUid = spawnSync(LAYOUT.launcher, [], { encoding: 'utf8', env: { PKEXEC_UID: '0; rm -rf /' } });
  assert.equal(forgedUid.status, 64);
  assert.match(forgedUid.stderr, /not a uid/);

  assert.deepEqual(installedHelperPids(), [], 'no helper started');
});

test('a granted user starts the helper through pkexec and blocks traffic from the test cgroup', async (t) => {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const port = (server.address() as { port: number }).port;
  assert.equal(probe(port), 'connected', 'reachable before any helper runs');

  const launched = launchAs(granted, {
    NODE_OPTIONS: `--require=${join(evilDir, 'evil.js')}`,
    LD_PRELOAD: join(evilDir, 'evil.so'),
  });
  assert.equal(launched.ok, true, launched.message);
  const [pid] = installedHelperPids();
  assert.ok(pid, 'the installed helper runs');
  t.after(async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await eventually(
      () => existsSync(`/proc/${pid}`),
      (exists) => !exists,
      `the helper (pid ${pid}) stopped`,
    );
  });

  // Asking again finds it running: no second helper, no second dialog.
  assert.deepEqual(launchAs(granted), { ok: true, alreadyRunning: true });
  assert.deepEqual(installedHelperPids(), [pid]);

  // It runs as root, from the installed entry, with only what the launcher set in its environment.
  assert.deepEqual(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean), [
    LAYOUT.node,
    LAYOUT.helperEntry,
  ]);
  assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Uid:\s+0\s+0\s+0\s+0$/m);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).sort();
  assert.deepEqual(environ, ['LANG=C.UTF-8', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', `PKEXEC_UID=${granted.uid}`]);
  // The hostile environment reached the caller's own processes only: nothing with uid or euid 0.
  const lines = markerLines();
  assert.ok(
    lines.some((line) => line.startsWith('js ')),
    'the caller really had NODE_OPTIONS set',
  );
  assert.ok(
    lines.some((line) => line.startsWith('so ')),
    'the caller really had LD_PRELOAD set',
  );
  assert.deepEqual(
    lines.filter((line) => / 0( |$)/.test(line)),
    [],
    `nothing loaded as root: ${lines.join(' | ')}`,
  );

  // The person who authorised it manages rules with the installed CLI; others are refused.
  const cli = (user: TestUser, args: string[]) => runAs(user, [LAYOUT.cliWrapper, '--socket', paths.socket, ...args]);
  const blocked = cli(granted, ['block', '127.0.0.1', '--port', String(port), '--note', 'polkit test']);
  assert.equal(blocked.status, 0, blocked.stderr);
  assert.equal(probe(port), 'EPERM', 'the connect from the test cgroup is refused');

  const refused = cli(stranger, ['rules', '--json']);
  assert.equal(refused.status, 1, 'a user who did not authorise the helper is refused');
  assert.equal(refused.stdout, '', 'and sees no rules');
});

test('an administrator uninstalls and installs through pkexec; a user without the grant cannot', () => {
  const refused = callerAs(stranger, ['install', bundleDir]);
  assert.deepEqual({ ok: refused.ok, kind: refused.kind }, { ok: false, kind: 'unauthorized' });

  const removed = callerAs(admin, ['uninstall']);
  assert.equal(removed.ok, true, removed.message);
  assert.equal(existsSync(LAYOUT.libDir), false);
  assert.equal(existsSync(LAYOUT.policy), false);

  const installed = callerAs(admin, ['install', bundleDir]);
  assert.equal(installed.ok, true, installed.message);
  assert.deepEqual(installProblems(), [], 'installed, intact and root-owned');
});
