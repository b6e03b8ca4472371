import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { placementOf, unescapeUnit } from '../../../../main/helper/apps/cgroup-placement.js';
import {
  DesktopEntries,
  desktopDataDirs,
  execProgram,
  parseDesktopFile,
} from '../../../../main/helper/apps/desktop-entries.js';
import { classifyProcess, type ProcessFacts } from '../../../../main/helper/apps/classify.js';

const USER = '/user.slice/user-1000.slice/user@1000.service';
const DOCKER_ID = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);

test('apps: cgroup paths place processes in desktop scopes, Flatpak, Snap, services and containers', () => {
  const cases: Array<[string, unknown]> = [
    [
      `${USER}/app.slice/app-gnome-firefox-4242.scope`,
      { kind: 'desktop-scope', unit: 'app-gnome-firefox-4242.scope', candidates: ['firefox', 'gnome-firefox'] },
    ],
    [
      `${USER}/app.slice/app-gnome-org.gnome.Nautilus-77.scope`,
      {
        kind: 'desktop-scope',
        unit: 'app-gnome-org.gnome.Nautilus-77.scope',
        candidates: ['org.gnome.Nautilus', 'gnome-org.gnome.Nautilus'],
      },
    ],
    [
      `${USER}/app.slice/app-org.kde.konsole-3f2a9c.scope`,
      { kind: 'desktop-scope', unit: 'app-org.kde.konsole-3f2a9c.scope', candidates: ['org.kde.konsole'] },
    ],
    [
      `${USER}/app.slice/app-gnome-my\\x2dtool-12.scope`,
      { kind: 'desktop-scope', unit: 'app-gnome-my\\x2dtool-12.scope', candidates: ['my-tool', 'gnome-my-tool'] },
    ],
    [
      `${USER}/app.slice/app-dbus\\x2d:1.2\\x2dorg.gnome.Calculator@0.service`,
      {
        kind: 'desktop-scope',
        unit: 'app-dbus\\x2d:1.2\\x2dorg.gnome.Calculator@0.service',
        candidates: ['dbus-:1.2-org.gnome.Calculator'],
      },
    ],
    [`${USER}/app.slice/app-flatpak-org.mozilla.firefox-5120.scope`, { kind: 'flatpak', appId: 'org.mozilla.firefox' }],
    [
      `${USER}/app.slice/snap.spotify.spotify-1f0a6e34-5b0c-4f4e-9d7b-3a1c2e4f5a6b.scope`,
      { kind: 'snap', snap: 'spotify', app: 'spotify' },
    ],
    ['/system.slice/snap.lxd.daemon.service', { kind: 'snap', snap: 'lxd', app: 'daemon' }],
    ['/system.slice/sshd.service', { kind: 'service', unit: 'sshd.service', user: false }],
    [
      '/system.slice/system-getty.slice/getty@tty1.service',
      { kind: 'service', unit: 'getty@tty1.service', user: false },
    ],
    [
      '/system.slice/NetworkManager.service/helper.scope',
      { kind: 'service', unit: 'NetworkManager.service', user: false },
    ],
    [`${USER}/session.slice/pipewire.service`, { kind: 'service', unit: 'pipewire.service', user: true }],
    [`${USER}/init.scope`, { kind: 'none' }],
    ['/user.slice/user-1000.slice/session-3.scope', { kind: 'none' }],
    [
      `${USER}/app.slice/app-org.gnome.Terminal.slice/vte-spawn-0a1b2c3d-1111-2222-3333-444455556666.scope`,
      { kind: 'none' },
    ],
    [`/system.slice/docker-${DOCKER_ID}.scope`, { kind: 'container', runtime: 'docker', containerId: DOCKER_ID }],
    [`/docker/${DOCKER_ID}`, { kind: 'container', runtime: 'docker', containerId: DOCKER_ID }],
    [
      `/machine.slice/libpod-${DOCKER_ID}.scope/container`,
      { kind: 'container', runtime: 'podman', containerId: DOCKER_ID },
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${DOCKER_ID}.scope`,
      { kind: 'container', runtime: 'containerd', containerId: DOCKER_ID },
    ],
    ['/lxc.payload.web1/system.slice/nginx.service', { kind: 'container', runtime: 'lxc', containerId: 'web1' }],
    ['/', { kind: 'none' }],
  ];
  for (const [path, expected] of cases) assert.deepEqual(placementOf(path), expected, path);
  assert.equal(unescapeUnit('a\\x2db\\x20c'), 'a-b c');
});

test('apps: desktop files: the Desktop Entry group only, unlocalised keys, Exec program', () => {
  const keys = parseDesktopFile(
    '[Desktop Entry]\nName=Files\nName[de]=Dateien\nIcon=org.gnome.Nautilus\n# c\n[Desktop Action new]\nName=New Window\n',
  );
  assert.equal(keys.get('Name'), 'Files');
  assert.equal(keys.get('Icon'), 'org.gnome.Nautilus');
  assert.equal(keys.size, 2);
  assert.equal(execProgram('env GDK_BACKEND=x11 LANG=C firefox %u'), 'firefox');
  assert.equal(execProgram('"/opt/My App/app" --flag %F'), '/opt/My App/app');
  assert.equal(execProgram(''), null);
});

test('apps: desktop entries come from $XDG_DATA_DIRS (absolute entries only) or the spec default, then Flatpak and Snap', () => {
  const tail = ['/var/lib/flatpak/exports/share', '/var/lib/snapd/desktop'];
  assert.deepEqual(desktopDataDirs({}), ['/usr/local/share', '/usr/share', ...tail]);
  assert.deepEqual(desktopDataDirs({ XDG_DATA_DIRS: '/opt/share:relative/share::/usr/share' }), [
    '/opt/share',
    '/usr/share',
    ...tail,
  ]);
  assert.deepEqual(desktopDataDirs({ XDG_DATA_DIRS: 'only/relative' }), ['/usr/local/share', '/usr/share', ...tail]);
});

function dataDirWith(files: Record<string, string>): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-apps-'));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, 'applications', rel, '..'), { recursive: true });
    writeFileSync(join(dir, 'applications', rel), text);
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A process in a unit its own user made, running a file only root can change, with no other evidence. */
const facts = (over: Partial<ProcessFacts>): ProcessFacts => ({
  pid: 100,
  exe: '/usr/bin/true',
  cgroup: '/',
  comm: 'true',
  uid: 1000,
  appImage: null,
  cgroupOwner: 1000,
  flatpakId: null,
  appArmorLabel: null,
  script: null,
  exeRootOwned: true,
  ...over,
});

test('apps: classification by verified placement, AppImage, desktop executable, or path', (t) => {
  const data = dataDirWith({
    'firefox.desktop': '[Desktop Entry]\nType=Application\nName=Firefox Web Browser\nIcon=firefox\nExec=firefox %u\n',
    'org.mozilla.firefox.desktop':
      '[Desktop Entry]\nName=Firefox (Flatpak)\nIcon=org.mozilla.firefox\nExec=/usr/bin/flatpak run org.mozilla.firefox\n',
    'spotify_spotify.desktop': '[Desktop Entry]\nName=Spotify\nIcon=/snap/spotify/icon.png\nExec=spotify\n',
    'kde4/okular.desktop': '[Desktop Entry]\nName=Okular\nExec=okular\n',
    'shell-ish.desktop': '[Desktop Entry]\nName=Shell\nExec=/bin/sh\nTerminal=true\n',
    'sleeper.desktop': '[Desktop Entry]\nName=Sleeper\nIcon=sleeper\nExec=sleep 5\n',
    'tool.desktop': '[Desktop Entry]\nName=Tool\nExec=python3 /opt/tool/tool.py\n',
  });
  t.after(data.cleanup);
  const desktop = new DesktopEntries([data.dir]);
  assert.equal(desktop.byId('kde4-okular')?.name, 'Okular');
  const sleepPath = desktop.byId('sleeper')!.exe!;
  assert.ok(sleepPath.startsWith('/'));
  const scope = (unit: string) => `${USER}/app.slice/${unit}`;

  // A desktop scope counts where its maker and the executable agree with it.
  const sleeper = classifyProcess(facts({ exe: sleepPath, cgroup: scope('app-gnome-sleeper-4242.scope') }), desktop);
  assert.deepEqual(sleeper, {
    key: 'desktop:sleeper',
    kind: 'desktop',
    name: 'Sleeper',
    exe: sleepPath,
    identifier: 'sleeper',
    icon: 'sleeper',
    cgroup: scope('app-gnome-sleeper-4242.scope'),
    unit: true,
  });
  assert.equal(
    classifyProcess(facts({ exe: sleepPath, cgroup: scope('app-gnome-sleeper-9.scope'), cgroupOwner: 0 }), desktop).key,
    'desktop:sleeper',
    'a unit root made',
  );
  const unverified: Array<[string, Partial<ProcessFacts>]> = [
    ['another program in the scope', { exe: '/usr/bin/python3.11', cgroup: scope('app-gnome-sleeper-9.scope') }],
    ["another user's unit", { exe: sleepPath, cgroup: scope('app-gnome-sleeper-9.scope'), cgroupOwner: 1001 }],
    ['an unknown maker', { exe: sleepPath, cgroup: scope('app-gnome-sleeper-9.scope'), cgroupOwner: null }],
    ['no such desktop entry', { exe: '/usr/bin/true', cgroup: scope('app-gnome-no.such.App-5.scope') }],
  ];
  for (const [what, over] of unverified) {
    const identity = classifyProcess(facts(over), desktop);
    // sleep is the sleeper's own program: it names the app, but the scope is not bound as a whole.
    assert.ok(identity.key === `exe:${over.exe}` || identity.key === 'desktop:sleeper', what);
    assert.equal(identity.unit, false, what);
  }
  // A script's entry: the interpreter running that script agrees with it.
  const python = desktop.byId('tool')!.exe!;
  const tool = (script: string | null) =>
    classifyProcess(facts({ exe: python, script, cgroup: scope('app-tool-3.scope') }), desktop);
  assert.deepEqual([tool('/opt/tool/tool.py').key, tool('/opt/tool/tool.py').unit], ['desktop:tool', true]);
  assert.equal(tool('/home/u/other.py').kind, 'executable', 'the interpreter running another script');
  assert.equal(tool(null).kind, 'executable');
  assert.equal(desktop.byExe(python), null, 'an interpreter names no app');

  const flatpakScope = scope('app-flatpak-org.mozilla.firefox-5120.scope');
  const flatpak = classifyProcess(
    facts({ exe: '/app/lib/firefox/firefox', cgroup: flatpakScope, flatpakId: 'org.mozilla.firefox' }),
    desktop,
  );
  assert.deepEqual(
    [flatpak.key, flatpak.kind, flatpak.name, flatpak.icon, flatpak.unit],
    ['flatpak:org.mozilla.firefox', 'flatpak', 'Firefox (Flatpak)', 'org.mozilla.firefox', true],
  );
  for (const flatpakId of [null, 'org.example.Other']) {
    const claim = classifyProcess(facts({ exe: '/home/u/evil', cgroup: flatpakScope, flatpakId }), desktop);
    assert.deepEqual([claim.key, claim.unit], ['exe:/home/u/evil', false], `a Flatpak scope, info ${flatpakId}`);
  }
  const snapScope = scope('snap.spotify.spotify-1f0a6e34-5b0c-4f4e-9d7b-3a1c2e4f5a6b.scope');
  const snap = classifyProcess(facts({ cgroup: snapScope, appArmorLabel: 'snap.spotify.spotify' }), desktop);
  assert.deepEqual([snap.key, snap.name], ['snap:spotify', 'Spotify']);
  assert.equal(classifyProcess(facts({ cgroup: snapScope }), desktop).key, 'exe:/usr/bin/true', 'unconfined');
  const unknownFlatpak = classifyProcess(
    facts({ cgroup: scope('app-flatpak-com.example.Tool-1.scope'), flatpakId: 'com.example.Tool' }),
    desktop,
  );
  assert.deepEqual([unknownFlatpak.name, unknownFlatpak.icon], ['Tool', null]);

  const appImage = classifyProcess(
    facts({
      exe: '/tmp/.mount_ObsidXYZ/obsidian',
      appImage: '/home/u/Apps/Obsidian-1.4.16.AppImage',
      cgroup: scope('app-gnome-obsidian-3.scope'),
    }),
    desktop,
  );
  assert.deepEqual(
    [appImage.key, appImage.kind, appImage.name, appImage.exe],
    [
      'appimage:/home/u/Apps/Obsidian-1.4.16.AppImage',
      'appimage',
      'Obsidian-1.4.16',
      '/home/u/Apps/Obsidian-1.4.16.AppImage',
    ],
  );

  const service = classifyProcess(
    facts({ exe: '/usr/sbin/sshd', cgroup: '/system.slice/sshd.service', cgroupOwner: 0, uid: 0 }),
    desktop,
  );
  assert.deepEqual(
    [service.key, service.kind, service.name, service.unit],
    ['service:sshd.service', 'service', 'sshd.service', true],
  );
  assert.equal(
    classifyProcess(facts({ exe: '/usr/sbin/sshd', cgroup: '/system.slice/sshd.service' }), desktop).key,
    'exe:/usr/sbin/sshd',
    'a system unit root did not make',
  );
  const userService = classifyProcess(
    facts({ exe: '/usr/bin/pipewire', cgroup: `${USER}/session.slice/pipewire.service` }),
    desktop,
  );
  assert.equal(userService.key, 'user-service:pipewire.service');
  assert.equal(
    classifyProcess(
      facts({ exe: '/home/u/pipewire', cgroup: `${USER}/session.slice/pipewire.service`, exeRootOwned: false }),
      desktop,
    ).key,
    'exe:/home/u/pipewire',
    'a user unit running a file the user can change',
  );
  const containerCgroup = `/system.slice/docker-${DOCKER_ID}.scope`;
  const container = classifyProcess(
    facts({ exe: '/usr/sbin/nginx', cgroup: containerCgroup, cgroupOwner: 0 }),
    desktop,
  );
  assert.deepEqual(
    [container.key, container.kind, container.name],
    [`container:docker:${DOCKER_ID}`, 'container', `docker ${DOCKER_ID.slice(0, 12)}`],
  );
  assert.equal(classifyProcess(facts({ exe: '/usr/sbin/nginx', cgroup: containerCgroup }), desktop).kind, 'executable');

  // Without a scope, a desktop entry's own program names the app; the cgroup is not the app's.
  const inSession = classifyProcess(
    facts({ exe: sleepPath, cgroup: '/user.slice/user-1000.slice/session-2.scope' }),
    desktop,
  );
  assert.deepEqual([inSession.key, inSession.unit], ['desktop:sleeper', false]);
  // Terminal entries, launchers and interpreters do not claim their program.
  const sh = desktop.byId('shell-ish')!.exe!;
  assert.equal(classifyProcess(facts({ exe: sh }), desktop).kind, 'executable');
  assert.equal(desktop.byExe('/usr/bin/flatpak'), null);

  const curl = classifyProcess(
    facts({ exe: '/usr/bin/curl', cgroup: `${USER}/app.slice/app-org.gnome.Terminal.slice/vte-spawn-0a1b.scope` }),
    desktop,
  );
  assert.deepEqual([curl.key, curl.kind, curl.name], ['exe:/usr/bin/curl', 'executable', 'curl']);
  const gone = classifyProcess(facts({ exe: null, cgroup: null, comm: 'wget' }), desktop);
  assert.deepEqual([gone.key, gone.kind, gone.name], ['unknown:wget', 'unknown', 'wget']);
});

test('apps: a program two shown entries start names neither', (t) => {
  const data = dataDirWith({
    'one.desktop': '[Desktop Entry]\nName=One\nExec=sleep 1\n',
    'two.desktop': '[Desktop Entry]\nName=Two\nExec=sleep 2\n',
  });
  t.after(data.cleanup);
  const desktop = new DesktopEntries([data.dir]);
  assert.equal(desktop.byExe(desktop.byId('one')!.exe!), null);
});
