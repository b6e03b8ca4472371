// Per-app identity that follows the app through real lifecycles (issue 15), with the real helper:
// a desktop app blocked once stays blocked from the first connection of every relaunch in a new
// scope, also after the helper restarts; two apps in one shared scope are told apart and the scope
// is not bound as a whole; claims the evidence does not bear out (APPIMAGE=, a scope named like a
// Flatpak or like an app) are not taken for the app, and never grant an app's allow rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { removeCgroup, withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { desktopDataDir, type TestDesktopApp } from '../support/desktop-entry.js';
import type { App, Flow } from '../../main/contract/index.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { eventually, present } from '../support/eventually.js';

const PYTHON = realpathSync('/usr/bin/python3');

// One TCP connect to port 9 of the address; prints "ok" or the errno name, then lingers (so the
// helper can see the process alive when the test wants it to).
const CONNECT = `
import errno, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect((sys.argv[1], 9))
    print('ok', flush=True)
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
time.sleep(float(sys.argv[2]))
`;

async function connectFrom(
  sandbox: Sandbox,
  cgroup: string,
  exe: string,
  host: string,
  options: { lingerMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const child = sandbox.spawnInCgroup(cgroup, [exe, '-c', CONNECT, host, String((options.lingerMs ?? 0) / 1000)], {
    env: { ...process.env, ...options.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`connect from ${exe} exited ${code}: ${stderr}`);
  return stdout.trim();
}

/** A desktop app of the test's own: an entry whose program is a copy of python. */
function desktopApp(sandbox: Sandbox, id: string): TestDesktopApp & { exe: string } {
  const exe = join(sandbox.makeTempDir('desktop-app'), `${id}-bin`);
  copyFileSync(PYTHON, exe);
  return { id, name: `Test ${id}`, icon: id, exec: `${exe} %U`, exe };
}

/** A child cgroup of the helper's, named as a desktop would name a unit; removed with the sandbox. */
function unit(sandbox: Sandbox, helper: HelperProcess, name: string): string {
  const path = join(helper.paths.cgroup, name);
  mkdirSync(path);
  sandbox.defer(() => removeCgroup(path));
  return path;
}

const listApps = (rpc: HelperClient) => rpc.call('apps.list', undefined) as Promise<App[]>;

/** The app of the (only) flow to `host` once it is stored. */
async function appOfFlowTo(rpc: HelperClient, host: string, verdict?: 'allow' | 'block'): Promise<App> {
  const flow = await eventually(
    async () => {
      const flows = (await rpc.call('connections.list', { remote: host })) as Flow[];
      return flows.find((f) => !verdict || f.lastVerdict === verdict);
    },
    present,
    `a flow to ${host}`,
  );
  const app = (await listApps(rpc)).find((a) => a.id === flow.appId);
  assert.ok(app, `the flow's app ${flow.appId} is listed`);
  return app;
}

test('a blocked desktop app is blocked from the first connection of every relaunch, across a helper restart', async () => {
  await withSandbox(async (sandbox) => {
    const app = desktopApp(sandbox, 'portcullis-test');
    const helper = await HelperProcess.start(sandbox, { env: { XDG_DATA_DIRS: desktopDataDir(sandbox, [app]) } });
    let rpc = await helper.client();
    const scope = (n: number) => unit(sandbox, helper, `app-portcullis\\x2dtest-${n}.scope`);

    assert.equal(await connectFrom(sandbox, scope(1), app.exe, '127.0.0.91', { lingerMs: 1500 }), 'ECONNREFUSED');
    const known = await eventually(
      async () => (await listApps(rpc)).find((a) => a.kind === 'desktop' && a.identifier === app.id),
      present,
      'the desktop app',
    );
    assert.equal(known.name, app.name);
    await rpc.call('rules.add', { rule: { action: 'block', app: known.id, remote: '127.0.0.91' } });

    assert.equal(await connectFrom(sandbox, scope(2), app.exe, '127.0.0.91'), 'EPERM', 'relaunched in a new scope');
    await helper.restart();
    rpc = await helper.client();
    assert.equal(await connectFrom(sandbox, scope(3), app.exe, '127.0.0.91'), 'EPERM', 'after the helper restarted');
    assert.equal(
      await connectFrom(sandbox, helper.paths.cgroup, app.exe, '127.0.0.91'),
      'EPERM',
      'its own program outside any scope',
    );
    assert.equal((await appOfFlowTo(rpc, '127.0.0.91', 'block')).id, known.id);

    // Another program in a scope named as the app: the name's claim blocks it (it can only tighten),
    // but it is not shown as the app.
    assert.equal(await connectFrom(sandbox, scope(4), PYTHON, '127.0.0.92'), 'ECONNREFUSED', 'not blocked elsewhere');
    await rpc.call('rules.add', { rule: { action: 'block', app: known.id, remote: '127.0.0.93' } });
    assert.equal(await connectFrom(sandbox, scope(5), PYTHON, '127.0.0.93'), 'EPERM');
    const claimant = await appOfFlowTo(rpc, '127.0.0.93', 'block');
    assert.deepEqual([claimant.kind, claimant.exe], ['executable', PYTHON]);
  });
});

test('two desktop apps in one shared scope are told apart; the scope is not bound to either', async () => {
  await withSandbox(async (sandbox) => {
    const one = desktopApp(sandbox, 'pcltest-one');
    const two = desktopApp(sandbox, 'pcltest-two');
    const helper = await HelperProcess.start(sandbox, { env: { XDG_DATA_DIRS: desktopDataDir(sandbox, [one, two]) } });
    const rpc = await helper.client();
    // A login session's scope (or a terminal's): every program the person starts runs in it.
    const shared = unit(sandbox, helper, 'session-77.scope');
    assert.equal(await connectFrom(sandbox, shared, one.exe, '127.0.0.101', { lingerMs: 1000 }), 'ECONNREFUSED');
    assert.equal(await connectFrom(sandbox, shared, two.exe, '127.0.0.102', { lingerMs: 1000 }), 'ECONNREFUSED');
    assert.equal(await connectFrom(sandbox, shared, PYTHON, '127.0.0.103', { lingerMs: 1000 }), 'ECONNREFUSED');
    const first = await appOfFlowTo(rpc, '127.0.0.101');
    const second = await appOfFlowTo(rpc, '127.0.0.102');
    const other = await appOfFlowTo(rpc, '127.0.0.103');
    assert.deepEqual([first.kind, first.identifier], ['desktop', one.id]);
    assert.deepEqual([second.kind, second.identifier], ['desktop', two.id]);
    assert.deepEqual([other.kind, other.exe], ['executable', PYTHON], 'the scope is neither app');

    await rpc.call('rules.add', { rule: { action: 'block', app: first.id, remote: '127.0.0.104' } });
    assert.equal(await connectFrom(sandbox, shared, one.exe, '127.0.0.104'), 'EPERM');
    assert.equal(await connectFrom(sandbox, shared, two.exe, '127.0.0.104'), 'ECONNREFUSED');
    assert.equal(await connectFrom(sandbox, shared, PYTHON, '127.0.0.104'), 'ECONNREFUSED');
  });
});

test('claims without evidence are not taken: APPIMAGE=, a scope named like a Flatpak, a scope named like an app with allow rules', async () => {
  await withSandbox(async (sandbox) => {
    const allowed = desktopApp(sandbox, 'pcltest-allowed');
    const helper = await HelperProcess.start(sandbox, {
      env: { XDG_DATA_DIRS: desktopDataDir(sandbox, [allowed]) },
    });
    const rpc = await helper.client();

    const fakeImage = join(sandbox.makeTempDir('appimage'), 'Fake.AppImage');
    copyFileSync(PYTHON, fakeImage);
    assert.equal(
      await connectFrom(sandbox, helper.paths.cgroup, PYTHON, '127.0.0.111', {
        lingerMs: 1000,
        env: { APPIMAGE: fakeImage },
      }),
      'ECONNREFUSED',
    );
    const flatpakScope = unit(sandbox, helper, 'app-flatpak-org.example.Fake-9.scope');
    assert.equal(await connectFrom(sandbox, flatpakScope, PYTHON, '127.0.0.112', { lingerMs: 1000 }), 'ECONNREFUSED');
    for (const host of ['127.0.0.111', '127.0.0.112']) {
      const app = await appOfFlowTo(rpc, host);
      assert.deepEqual([app.kind, app.exe], ['executable', PYTHON], host);
    }
    const apps = await listApps(rpc);
    assert.ok(!apps.some((a) => a.kind === 'appimage' || a.kind === 'flatpak'), JSON.stringify(apps));

    // Allow-list mode: the app may reach .113; a program in a scope named as the app may not.
    assert.equal(
      await connectFrom(sandbox, unit(sandbox, helper, 'app-pcltest\\x2dallowed-1.scope'), allowed.exe, '127.0.0.114', {
        lingerMs: 1000,
      }),
      'ECONNREFUSED',
    );
    const app = await eventually(
      async () => (await listApps(rpc)).find((a) => a.kind === 'desktop' && a.identifier === allowed.id),
      present,
      'the allowed desktop app',
    );
    await rpc.call('rules.add', { rule: { action: 'allow', app: app.id, remote: '127.0.0.113' } });
    await rpc.call('settings.update', { patch: { defaultAction: 'block' } });
    const relaunch = (n: number, exe: string) =>
      connectFrom(sandbox, unit(sandbox, helper, `app-pcltest\\x2dallowed-${n}.scope`), exe, '127.0.0.113');
    assert.equal(await relaunch(2, allowed.exe), 'ECONNREFUSED', 'the app itself, relaunched');
    assert.equal(await relaunch(3, PYTHON), 'EPERM', "the claim does not grant the app's allow rule");
  });
});
