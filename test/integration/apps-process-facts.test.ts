// App identity from real processes: /proc and cgroup paths read as the helper reads them.
// An executable replaced while running keeps its path (and so its app); an AppImage is named by
// its file, found through the runtime that mounted it (never through APPIMAGE, which a process sets
// itself); container and desktop scopes are recognised from the real cgroup a process runs in, with
// its maker and executable agreeing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { removeCgroup, withSandbox, type Sandbox } from '../support/sandbox.js';
import { desktopDataDir, TEST_DESKTOP_APP } from '../support/desktop-entry.js';
import { readExeInode, readProcessFacts } from '../../main/helper/apps/process-facts.js';
import { classifyProcess } from '../../main/helper/apps/classify.js';
import { DesktopEntries } from '../../main/helper/apps/desktop-entries.js';

const SLEEP = '/bin/sleep';
const noDesktop = new DesktopEntries([]);

async function started(child: ChildProcess): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 200)); // exec done
  assert.equal(child.exitCode, null, 'the process is running');
  return child.pid!;
}

function spawnIn(sandbox: Sandbox, cgroup: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return sandbox.spawnInCgroup(cgroup, argv, { env: { ...process.env, ...env } });
}

test('apps from /proc: a replaced executable keeps its path and app; an update changes only the inode', async () => {
  await withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('apps');
    const dir = sandbox.makeTempDir('apps-exe');
    const exe = join(dir, 'updater');
    copyFileSync(SLEEP, exe);
    const pid = await started(spawnIn(sandbox, cgroup, [exe, '30']));
    const before = classifyProcess(readProcessFacts(pid)!, noDesktop);
    const inodeBefore = readExeInode(pid)!;
    // A package update: a new file renamed over the old one while the old one still runs.
    copyFileSync(SLEEP, `${exe}.new`);
    renameSync(`${exe}.new`, exe);
    const after = classifyProcess(readProcessFacts(pid)!, noDesktop);
    assert.equal(before.key, `exe:${exe}`);
    assert.equal(after.key, before.key, 'the running process is still the same app after the update');
    assert.equal(after.exe, exe, '" (deleted)" is not part of the path');
    assert.equal(readExeInode(pid)!.ino, inodeBefore.ino, 'the running process still runs the old inode');
    assert.notEqual(
      statSync(exe).ino,
      inodeBefore.ino,
      'the path now names a new inode (the kernel binding must follow it)',
    );
    rmSync(exe);
    assert.equal(classifyProcess(readProcessFacts(pid)!, noDesktop).key, `exe:${exe}`, 'even with the file gone');
    assert.equal(readProcessFacts(999_999_999), null, 'a process that is gone yields nothing');
  });
});

test('apps from /proc: an AppImage is named by the runtime that mounted it, never by APPIMAGE', async () => {
  await withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('apps');
    const dir = sandbox.makeTempDir('apps-appimage');
    // Stands in for the AppImage runtime (an ELF marked "AI\x02" at byte 8, which the loader ignores):
    // it runs the payload from its mount.
    const appImage = join(dir, 'Notes-2.1.AppImage');
    const runtime = readFileSync('/bin/dash');
    runtime.set([0x41, 0x49, 0x02], 8);
    writeFileSync(appImage, runtime, { mode: 0o755 });
    const mount = join('/tmp', `.mount_Notes${sandbox.tag}`);
    mkdirSync(join(mount, 'usr', 'bin'), { recursive: true });
    sandbox.defer(() => rmSync(mount, { recursive: true, force: true }));
    const payload = join(mount, 'usr', 'bin', 'notes');
    copyFileSync(SLEEP, payload);

    // APPIMAGE in its own environment proves nothing: the payload run by anyone else is its executable.
    const claimed = classifyProcess(
      readProcessFacts(await started(spawnIn(sandbox, cgroup, [payload, '30'], { APPIMAGE: appImage })))!,
      noDesktop,
    );
    assert.deepEqual([claimed.kind, claimed.key], ['executable', `exe:${payload}`]);
    copyFileSync(SLEEP, join(dir, 'plain'));
    const forged = classifyProcess(
      readProcessFacts(await started(spawnIn(sandbox, cgroup, [join(dir, 'plain'), '30'], { APPIMAGE: appImage })))!,
      noDesktop,
    );
    assert.equal(forged.kind, 'executable');

    // Run by the runtime: the parent whose executable is outside the mount is the AppImage.
    const launcher = spawnIn(sandbox, cgroup, [appImage, '-c', `"${payload}" 30; true`]);
    await started(launcher);
    const children = readFileSync(`/proc/${launcher.pid}/task/${launcher.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    assert.equal(children.length, 1, 'the runtime started the payload');
    const fromParent = classifyProcess(readProcessFacts(Number(children[0]))!, noDesktop);
    assert.deepEqual(
      [fromParent.kind, fromParent.key, fromParent.name, fromParent.exe],
      ['appimage', `appimage:${appImage}`, 'Notes-2.1', appImage],
    );
    const itself = classifyProcess(readProcessFacts(launcher.pid!)!, noDesktop);
    assert.equal(itself.key, `appimage:${appImage}`, 'the runtime itself');
  });
});

test('apps from /proc: real cgroups: a container scope and a desktop app scope', async () => {
  await withSandbox(async (sandbox) => {
    const cgroup = sandbox.makeCgroup('apps');
    const containerId = sandbox.tag.repeat(11).slice(0, 64).padEnd(64, 'a');
    const container = join(cgroup, `docker-${containerId}.scope`);
    mkdirSync(container);
    sandbox.defer(() => removeCgroup(container));
    const scope = join(cgroup, `app-gnome-${TEST_DESKTOP_APP.id}-77.scope`);
    mkdirSync(scope);
    sandbox.defer(() => removeCgroup(scope));

    const inContainer = classifyProcess(
      readProcessFacts(await started(spawnIn(sandbox, container, [SLEEP, '30'])))!,
      noDesktop,
    );
    assert.deepEqual(
      [inContainer.kind, inContainer.identifier, inContainer.name],
      ['container', containerId, `docker ${containerId.slice(0, 12)}`],
    );
    const desktop = new DesktopEntries([desktopDataDir(sandbox, [{ ...TEST_DESKTOP_APP, exec: `${SLEEP} 30` }])]);
    const inScope = classifyProcess(readProcessFacts(await started(spawnIn(sandbox, scope, [SLEEP, '30'])))!, desktop);
    assert.deepEqual(
      [inScope.kind, inScope.key, inScope.name, inScope.icon],
      ['desktop', `desktop:${TEST_DESKTOP_APP.id}`, TEST_DESKTOP_APP.name, TEST_DESKTOP_APP.icon],
    );
    assert.ok(inScope.cgroup?.endsWith(`/app-gnome-${TEST_DESKTOP_APP.id}-77.scope`));
    assert.equal(inScope.unit, true, 'the scope is the app’s: made by root, running its program');
    const other = classifyProcess(
      readProcessFacts(
        await started(spawnIn(sandbox, scope, ['/usr/bin/python3', '-c', 'import time; time.sleep(30)'])),
      )!,
      desktop,
    );
    assert.deepEqual([other.kind, other.unit], ['executable', false], 'another program in the scope');
  });
});
