// What the helper tells the kernel about apps: unit name keys as the kernel cuts them, claims only
// for apps a claim cannot loosen (withdrawn when that changes), executables by file, path bindings
// only where root alone controls the path, and nothing sent twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from '../../../../main/contract/index.js';
import { AppBinder, rootControlled } from '../../../../main/helper/apps/app-binder.js';
import { escapeUnitText, unitKeyOf, unitKeysOf } from '../../../../main/helper/apps/unit-names.js';
import type { DesktopLookup } from '../../../../main/helper/apps/desktop-entries.js';

const NO_DESKTOP: DesktopLookup = { byId: () => null, byExe: () => null };

function app(id: number, over: Partial<App>): App {
  return {
    id,
    kind: 'desktop',
    name: `app ${id}`,
    exe: null,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: 0,
    lastSeen: 0,
    defaultAction: null,
    ...over,
  };
}

test('unit names: keys cut as the kernel cuts them; escaping as systemd escapes', () => {
  const cases: Array<[string, string | null]> = [
    ['app-gnome-org.gnome.Nautilus-4242.scope', 'app-gnome-org.gnome.Nautilus'],
    ['app-portcullis\\x2dtest-7.scope', 'app-portcullis\\x2dtest'],
    ['app-x.scope', null],
    ['app-org.kde.konsole@1234.service', 'app-org.kde.konsole'],
    ['app-org.kde.konsole.service', 'app-org.kde.konsole'],
    ['snap.spotify.spotify-1f0a6e34-5b0c-4f4e-9d7b-3a1c2e4f5a6b.scope', 'snap.spotify.spotify'],
    ['snap.lxd.daemon.scope', 'snap.lxd.daemon'],
    ['sshd.service', 'sshd'],
    ['getty@tty1.service', null],
    ['session-3.scope', null],
    ['user.slice', null],
    [`app-${'a'.repeat(130)}-1.scope`, null],
  ];
  for (const [unit, key] of cases) assert.equal(unitKeyOf(unit), key, unit);
  assert.equal(escapeUnitText('my-tool é'), 'my\\x2dtool\\x20\\xc3\\xa9');
  const desktop = unitKeysOf(app(1, { identifier: 'my-tool' }));
  assert.equal(desktop.rootOnly, false);
  assert.ok(desktop.keys.includes('app-my\\x2dtool') && desktop.keys.includes('app-gnome-my\\x2dtool'));
  assert.deepEqual(unitKeysOf(app(2, { kind: 'flatpak', identifier: 'org.example.App' })).keys, [
    'app-flatpak-org.example.App',
  ]);
  assert.deepEqual(unitKeysOf(app(3, { kind: 'snap', identifier: 'spotify' })).keys, ['snap.spotify.spotify']);
  assert.deepEqual(
    unitKeysOf(app(4, { kind: 'service', identifier: 'sshd.service', cgroup: '/system.slice/sshd.service' })),
    {
      keys: ['sshd'],
      rootOnly: true,
    },
  );
  assert.equal(
    unitKeysOf(
      app(5, {
        kind: 'service',
        identifier: 'pipewire.service',
        cgroup: '/user.slice/user-1000.slice/user@1000.service/session.slice/pipewire.service',
      }),
    ).rootOnly,
    false,
  );
});

test('bindings: claims only for apps that block and allow nothing; withdrawn when an allow comes; nothing sent twice', () => {
  const binder = new AppBinder(NO_DESKTOP, '/nonexistent-proc');
  const blocker = app(1, { identifier: 'blocker' });
  const allower = app(2, { identifier: 'allower' });
  const idle = app(3, { identifier: 'idle' });
  const sshd = app(4, { kind: 'service', identifier: 'sshd.service', cgroup: '/system.slice/sshd.service' });
  const apps = [blocker, allower, idle, sshd];
  const actions = new Map([
    [1, { allows: false, blocks: true }],
    [2, { allows: true, blocks: true }],
  ]);
  const first = binder.plan(apps, actions);
  const units = first.change!.add!.units!;
  assert.ok(
    units.every((u) => u.appId === 1 || (u.appId === 4 && u.rootOnly)),
    JSON.stringify(units),
  );
  assert.ok(units.some((u) => u.unit === 'app-blocker' && !u.rootOnly));
  assert.deepEqual(first.change!.unclaim, [2, 3, 4], 'at start every app not claimable is withdrawn');
  assert.equal(first.change!.resetUnits, true);
  first.done();
  assert.equal(binder.plan(apps, actions).change, null, 'in step: nothing to send');

  // The blocker gains an allow rule: its names go, its claims are withdrawn.
  const second = binder.plan(apps, new Map([...actions, [1, { allows: true, blocks: true }]]));
  assert.deepEqual(second.change!.unclaim, [1]);
  assert.ok(second.change!.remove!.units!.some((u) => u.unit === 'app-blocker'));
  assert.deepEqual(second.change!.add!.units, []);
  second.done();
  // A block default alone makes an app claimable; an allow default never.
  const third = binder.plan([...apps.slice(0, 2), { ...idle, defaultAction: 'block' }, sshd], actions);
  assert.ok(third.change!.add!.units!.some((u) => u.unit === 'app-idle'));
  const allowDefault = binder.plan([{ ...blocker, defaultAction: 'allow' }, allower, idle, sshd], actions);
  assert.ok(!allowDefault.change?.add?.units?.some((u) => u.appId === 1));
});

test('bindings: executables by file, by path only where root alone controls it; desktop apps by their own program', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-binder-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const exe = join(dir, 'tool');
  writeFileSync(exe, '', { mode: 0o755 });
  const viewer = join(dir, 'viewer');
  writeFileSync(viewer, '', { mode: 0o755 });
  const desktop: DesktopLookup = {
    byId: (id) =>
      id === 'viewer' ? { id, name: 'Viewer', icon: null, exe: viewer, launcher: false, script: null, path: '' } : null,
    byExe: (path) => (path === viewer ? desktop.byId('viewer') : null),
  };
  const binder = new AppBinder(desktop, mkdtempSync(join(dir, 'proc-'))); // no processes
  const plan = binder.plan(
    [
      app(1, { kind: 'executable', exe }),
      app(2, { identifier: 'viewer' }),
      app(3, { kind: 'executable', exe: '/gone' }),
    ],
    new Map(),
  );
  assert.deepEqual(
    plan.added.executables.map((e) => e.appId),
    [1, 2],
  );
  assert.deepEqual(plan.added.paths, [], 'a temporary directory is not root-controlled');
  assert.equal(rootControlled(dir), false);
  assert.equal(rootControlled('/usr/bin'), true);
  assert.equal(rootControlled('relative/path'), false);
});
