// The connections picture through the real helper and CLI: apps are classified and listed,
// flows are stored and queried by app and time, history survives a restart, the live stream
// carries the app, and a per-app default verdict reaches the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { removeCgroup, withSandbox } from '../support/sandbox.js';
import { HelperProcess, CLI_ARGV, REPO_ROOT } from '../support/helper-process.js';
import { desktopDataDir, TEST_DESKTOP_APP } from '../support/desktop-entry.js';
import { PEER_SCRIPT, SYSTEM_PYTHON, TRAFFIC_SCRIPT, randomPort, within } from './connections-rig.js';
import type { App, ConnectionEvent, Flow } from '../../main/contract/index.js';
import { eventually, present } from '../support/eventually.js';

async function run(
  sandbox: Parameters<Parameters<typeof withSandbox>[0]>[0],
  cgroup: string,
  argv: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return sandbox.runInCgroup(cgroup, argv);
}

async function startPeer(sandbox: Parameters<Parameters<typeof withSandbox>[0]>[0], port: number): Promise<void> {
  const peer = spawn(SYSTEM_PYTHON, [PEER_SCRIPT, '127.0.0.1', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  sandbox.defer(() => {
    peer.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    peer.stdout!.once('data', () => resolve());
    peer.once('exit', (code) => reject(new Error(`peer exited ${code}`)));
  });
}

test('connections through the helper: apps, flows by app and time, follow, history across restart, per-app default', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const appExe = join(sandbox.makeTempDir('conn-app'), 'fetcher');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const port = randomPort();
    await startPeer(sandbox, port);

    // Live stream first, so the decision is seen as it happens.
    const follower = spawn(
      CLI_ARGV[0]!,
      [...CLI_ARGV.slice(1), '--socket', helper.paths.socket, 'connections', '--follow', '--json'],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    sandbox.defer(() => {
      follower.kill('SIGKILL');
    });
    let followed = '';
    follower.stdout!.on('data', (d: Buffer) => (followed += d.toString()));
    await new Promise((resolve) => setTimeout(resolve, 1500)); // the follower subscribes

    const generated = await run(sandbox, helper.paths.cgroup, [
      appExe,
      TRAFFIC_SCRIPT,
      'tcp-download',
      '127.0.0.1',
      String(port),
      String(1024 * 1024),
    ]);
    assert.equal(generated.code, 0, generated.stderr);
    const counted = JSON.parse(generated.stdout) as { sent: number; received: number; pid: number };

    const apps = JSON.parse((await helper.cli(['apps', '--json'])).stdout) as App[];
    const app = apps.find((a) => a.exe === appExe);
    assert.ok(app, `the generator's executable is an app: ${JSON.stringify(apps)}`);
    assert.deepEqual([app.kind, app.name], ['executable', 'fetcher']);

    const flow = await eventually(
      async () => {
        const result = await helper.cli(['connections', '--app', appExe, '--json']);
        assert.equal(result.code, 0, result.stderr);
        const flows = JSON.parse(result.stdout) as Flow[];
        return flows.find((f) => f.remotePort === port && f.remoteAddr === '127.0.0.1');
      },
      (found): found is Flow => found !== undefined && within(found.bytesIn, counted.received, 0.1),
      `the download flow with its ${counted.received} bytes`,
      { everyMs: 100 },
    );
    assert.deepEqual(
      [flow.appId, flow.protocol, flow.direction, flow.allowed, flow.lastVerdict],
      [app.id, 'tcp', 'out', 1, 'allow'],
    );

    const event = await eventually(
      () =>
        followed
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as ConnectionEvent)
          .find((e) => e.remotePort === port && e.pid === counted.pid),
      present,
      'the decision on the live stream',
      { describe: () => `not there; followed: ${followed.slice(-2000)}` },
    );
    assert.equal(event.appId, app.id);

    // By name and by id; --since in the future finds nothing; bad values are bad input (exit 2).
    const byName = JSON.parse(
      (await helper.cli(['connections', '--app', 'fetcher', '--since', '1h', '--json'])).stdout,
    ) as Flow[];
    assert.ok(byName.some((f) => f.remotePort === port));
    const future = JSON.parse(
      (await helper.cli(['connections', '--app', String(app.id), '--since', String(Date.now() + 3_600_000), '--json']))
        .stdout,
    ) as Flow[];
    assert.deepEqual(future, []);
    const badSince = await helper.cli(['connections', '--since', 'yesterday']);
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since: "yesterday" is not a time/);
    const badApp = await helper.cli(['connections', '--app', 'no-such-app']);
    assert.equal(badApp.code, 2);
    assert.match(badApp.stderr, /--app: no app is called "no-such-app"/);
    const human = await helper.cli(['apps']);
    assert.match(human.stdout, /fetcher/);

    // History is stored: a restarted helper still has the flow with the same counts.
    await helper.restart();
    const after = JSON.parse((await helper.cli(['connections', '--app', String(app.id), '--json'])).stdout) as Flow[];
    const stored = after.find((f) => f.remotePort === port);
    assert.ok(stored, 'the flow survived the restart');
    assert.deepEqual([stored.bytesIn, stored.bytesOut, stored.allowed], [flow.bytesIn, flow.bytesOut, flow.allowed]);

    // A per-app default of block reaches the kernel: this app's connects now fail with EPERM.
    const client = await helper.client();
    const updated = await client.call('apps.setDefault', { appId: app.id, action: 'block' });
    assert.equal(updated.defaultAction, 'block');
    const blocked = await run(sandbox, helper.paths.cgroup, [
      appExe,
      TRAFFIC_SCRIPT,
      'tcp-download',
      '127.0.0.1',
      String(port),
      '1000',
    ]);
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /PermissionError|Operation not permitted/);
    await client.call('apps.setDefault', { appId: app.id, action: null });
    const allowed = await run(sandbox, helper.paths.cgroup, [
      appExe,
      TRAFFIC_SCRIPT,
      'tcp-download',
      '127.0.0.1',
      String(port),
      '1000',
    ]);
    assert.equal(allowed.code, 0, allowed.stderr);
    await assert.rejects(client.call('apps.setDefault', { appId: 99_999, action: 'block' }), { kind: 'not-found' });
  });
});

test('connections through the helper: a desktop app running in its scope is that app, and its scope is bound in the kernel', async () => {
  await withSandbox(async (sandbox) => {
    const appExe = join(sandbox.makeTempDir('scope-app'), 'viewer-helper');
    copyFileSync(SYSTEM_PYTHON, appExe);
    // The helper finds the test's own desktop entry (whose program is appExe) through its XDG_DATA_DIRS.
    const viewer = { ...TEST_DESKTOP_APP, exec: `${appExe} %U` };
    const helper = await HelperProcess.start(sandbox, { env: { XDG_DATA_DIRS: desktopDataDir(sandbox, [viewer]) } });
    // The scope a desktop puts a launched app in.
    const scope = join(helper.paths.cgroup, `app-gnome-${TEST_DESKTOP_APP.id}-4242.scope`);
    mkdirSync(scope);
    sandbox.defer(() => removeCgroup(scope));
    const port = randomPort();
    await startPeer(sandbox, port);
    const download = (exe: string, cgroup = scope) =>
      run(sandbox, cgroup, [exe, TRAFFIC_SCRIPT, 'tcp-download', '127.0.0.1', String(port), '1000']);

    const first = await download(appExe);
    assert.equal(first.code, 0, first.stderr);
    const app = await eventually(
      async () =>
        (JSON.parse((await helper.cli(['apps', '--json'])).stdout) as App[]).find(
          (a) => a.kind === 'desktop' && a.identifier === TEST_DESKTOP_APP.id,
        ),
      present,
      'the scope classified as its desktop app',
      { everyMs: 100 },
    );
    assert.equal(app.name, TEST_DESKTOP_APP.name);
    assert.equal(app.icon, TEST_DESKTOP_APP.icon);
    assert.ok(app.cgroup?.endsWith(`/app-gnome-${TEST_DESKTOP_APP.id}-4242.scope`), String(app.cgroup));

    // Blocking the app by default reaches processes started in its scope later, whatever they run:
    // the kernel knows the scope.
    const client = await helper.client();
    await client.call('apps.setDefault', { appId: app.id, action: 'block' });
    const blocked = await eventually(
      () => download(SYSTEM_PYTHON),
      (result) => result.code !== 0,
      'the default reaching the scope (a failed download)',
      { everyMs: 100 },
    );
    assert.match(blocked.stderr, /PermissionError|Operation not permitted/);
    // Another program outside the scope is not that app.
    const outside = await download(SYSTEM_PYTHON, helper.paths.cgroup);
    assert.equal(outside.code, 0, outside.stderr);
  });
});

test('connections through the helper: an update that replaces the executable keeps the app and its per-app verdict', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const appExe = join(sandbox.makeTempDir('update-app'), 'updated-app');
    copyFileSync(SYSTEM_PYTHON, appExe);
    const port = randomPort();
    await startPeer(sandbox, port);
    const download = () =>
      run(sandbox, helper.paths.cgroup, [appExe, TRAFFIC_SCRIPT, 'tcp-download', '127.0.0.1', String(port), '1000']);
    assert.equal((await download()).code, 0);
    const app = await eventually(
      async () => (JSON.parse((await helper.cli(['apps', '--json'])).stdout) as App[]).find((a) => a.exe === appExe),
      present,
      'the app',
      { everyMs: 100 },
    );
    const client = await helper.client();
    await client.call('apps.setDefault', { appId: app.id, action: 'block' });
    assert.notEqual((await download()).code, 0, 'blocked before the update');

    // The update: a new file renamed over the old path (a new inode the kernel has not seen).
    copyFileSync(SYSTEM_PYTHON, `${appExe}.new`);
    renameSync(`${appExe}.new`, appExe);
    // The first run of the new file is seen with no kernel app id; the helper finds the same app by
    // path and binds the new file, so the runs after it are that app again (and blocked).
    await download();
    await eventually(download, (result) => result.code !== 0, 'a blocked run after the update', { everyMs: 100 });
    const apps = JSON.parse((await helper.cli(['apps', '--json'])).stdout) as App[];
    assert.equal(apps.filter((a) => a.exe === appExe).length, 1, 'still one app for the path');
  });
});
