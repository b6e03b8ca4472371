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

const facts = (over: Partial<ProcessFacts>): ProcessFacts => ({
  pid: 100,
  exe: '/usr/bin/true',
  cgroup: '/',
  comm: 'true',
  uid: 1000,
  appImage: null,
  ...over,
});

test('apps: classification by placement, AppImage, desktop executable, or path', (t) => {
  const data = dataDirWith({
    'firefox.desktop': '[Desktop Entry]\nType=Application\nName=Firefox Web Browser\nIcon=firefox\nExec=firefox %u\n',
    'org.mozilla.firefox.desktop':
      '[Desktop Entry]\nName=Firefox (Flatpak)\nIcon=org.mozilla.firefox\nExec=/usr/bin/flatpak run org.mozilla.firefox\n',
    'spotify_spotify.desktop': '[Desktop Entry]\nName=Spotify\nIcon=/snap/spotify/icon.png\nExec=spotify\n',
    'kde4/okular.desktop': '[Desktop Entry]\nName=Okular\nExec=okular\n',
    'shell-ish.desktop': '[Desktop Entry]\nName=Shell\nExec=/bin/sh\nTerminal=true\n',
    'sleeper.desktop': '[Desktop Entry]\nName=Sleeper\nIcon=sleeper\nExec=sleep 5\n',
  });
  t.after(data.cleanup);
  const desktop = new DesktopEntries([data.dir]);
  assert.equal(desktop.byId('kde4-okular')?.name, 'Okular');

  const firefox = classifyProcess(
    facts({ exe: '/usr/lib/firefox/firefox', cgroup: `${USER}/app.slice/app-gnome-firefox-4242.scope` }),
    desktop,
  );
  assert.deepEqual(firefox, {
    key: 'desktop:firefox',
    kind: 'desktop',
    name: 'Firefox Web Browser',
    exe: '/usr/lib/firefox/firefox',
    identifier: 'firefox',
    icon: 'firefox',
    cgroup: `${USER}/app.slice/app-gnome-firefox-4242.scope`,
  });
  // A helper interpreter started inside the app's scope is still the app; another launch (new scope) keeps the key.
  assert.equal(
    classifyProcess(
      facts({ exe: '/usr/bin/python3.11', cgroup: `${USER}/app.slice/app-gnome-firefox-9.scope` }),
      desktop,
    ).key,
    'desktop:firefox',
  );

  const flatpak = classifyProcess(
    facts({ exe: '/app/lib/firefox/firefox', cgroup: `${USER}/app.slice/app-flatpak-org.mozilla.firefox-5120.scope` }),
    desktop,
  );
  assert.deepEqual(
    [flatpak.key, flatpak.kind, flatpak.name, flatpak.icon],
    ['flatpak:org.mozilla.firefox', 'flatpak', 'Firefox (Flatpak)', 'org.mozilla.firefox'],
  );
  const snap = classifyProcess(
    facts({ cgroup: `${USER}/app.slice/snap.spotify.spotify-1f0a6e34-5b0c-4f4e-9d7b-3a1c2e4f5a6b.scope` }),
    desktop,
  );
  assert.deepEqual([snap.key, snap.name], ['snap:spotify', 'Spotify']);
  const unknownFlatpak = classifyProcess(
    facts({ cgroup: `${USER}/app.slice/app-flatpak-com.example.Tool-1.scope` }),
    desktop,
  );
  assert.deepEqual([unknownFlatpak.name, unknownFlatpak.icon], ['Tool', null]);

  const appImage = classifyProcess(
    facts({
      exe: '/tmp/.mount_ObsidXYZ/obsidian',
      appImage: '/home/u/Apps/Obsidian-1.4.16.AppImage',
      cgroup: `${USER}/app.slice/app-gnome-obsidian-3.scope`,
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

  const service = classifyProcess(facts({ exe: '/usr/sbin/sshd', cgroup: '/system.slice/sshd.service' }), desktop);
  assert.deepEqual([service.key, service.kind, service.name], ['service:sshd.service', 'service', 'sshd.service']);
  const userService = classifyProcess(
    facts({ exe: '/usr/bin/pipewire', cgroup: `${USER}/session.slice/pipewire.service` }),
    desktop,
  );
  assert.equal(userService.key, 'user-service:pipewire.service');
  const container = classifyProcess(
    facts({ exe: '/usr/sbin/nginx', cgroup: `/system.slice/docker-${DOCKER_ID}.scope` }),
    desktop,
  );
  assert.deepEqual(
    [container.key, container.kind, container.name],
    [`container:docker:${DOCKER_ID}`, 'container', `docker ${DOCKER_ID.slice(0, 12)}`],
  );

  // Without a scope, a desktop entry's executable names the app; terminal entries do not claim their program.
  const sleepPath = desktop.byId('sleeper')!.exe!;
  assert.ok(sleepPath.startsWith('/'));
  assert.equal(
    classifyProcess(facts({ exe: sleepPath, cgroup: '/user.slice/user-1000.slice/session-2.scope' }), desktop).key,
    'desktop:sleeper',
  );
  const sh = desktop.byId('shell-ish')!.exe!;
  assert.deepEqual(classifyProcess(facts({ exe: sh }), desktop).kind, 'executable');

  const curl = classifyProcess(
    facts({ exe: '/usr/bin/curl', cgroup: `${USER}/app.slice/app-org.gnome.Terminal.slice/vte-spawn-0a1b.scope` }),
    desktop,
  );
  assert.deepEqual([curl.key, curl.kind, curl.name], ['exe:/usr/bin/curl', 'executable', 'curl']);
  const gone = classifyProcess(facts({ exe: null, cgroup: null, comm: 'wget' }), desktop);
  assert.deepEqual([gone.key, gone.kind, gone.name], ['unknown:wget', 'unknown', 'wget']);
  const unknownScope = classifyProcess(facts({ cgroup: `${USER}/app.slice/app-gnome-no.such.App-5.scope` }), desktop);
  assert.deepEqual([unknownScope.key, unknownScope.name], ['desktop:no.such.App', 'App']);
});
