// What install trusts and what uninstall touches, on the real system paths (root, under the lock):
// - a bundle built by a user, whose launcher that user swaps for a link the moment install has
//   read it: what lands in /usr/libexec and /usr/lib/portcullis is what was verified, and the
//   link is never followed;
// - a helper whose pin directory is a bpffs root shared with others: uninstall removes the
//   helper's pins (the manifest's list, checked here against what the helper really pinned) and
//   leaves every other pin where it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelperClient } from '../../main/client/helper-client.js';
import { LAYOUT, BUNDLE_FILES } from '../../main/common/install-layout.js';
import type { Manifest } from '../../main/install/bundle.js';
import { sha256Of } from '../../main/install/verified-bundle.js';
import { withSandbox } from '../support/sandbox.js';
import { attachedPrograms } from '../support/cgroup-programs.js';
import { pinStrayMap } from '../support/pinned-maps.js';
import { runCli } from '../support/helper-process.js';
import { makeUser } from '../support/polkit-env.js';
import { eventually, present } from '../support/eventually.js';
import {
  assertNotInstalled,
  buildTestBundle,
  deferUninstall,
  writeTestHelperConf,
} from '../support/install-fixture.js';

// Waits (inotify) until the file has been opened for reading and closed, then at once replaces it
// with a link to `target`, as an attacker owning the bundle would.
const SWAP_AFTER_READ = `
import ctypes, os, sys
path, target = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
IN_CLOSE_NOWRITE = 0x10
fd = libc.inotify_init()
if fd < 0 or libc.inotify_add_watch(fd, path.encode(), IN_CLOSE_NOWRITE) < 0:
    sys.exit('inotify: errno %d' % ctypes.get_errno())
print('watching', flush=True)
os.read(fd, 4096)
os.symlink(target, path + '.swap')
os.rename(path + '.swap', path)
print('swapped', flush=True)
`;

function chownTree(path: string, uid: number): void {
  execFileSync('chown', ['-R', `${uid}:${uid}`, path]);
}

test(
  'a link swapped into the bundle once install has read the file is not followed: what was verified is installed',
  { timeout: 180_000 },
  async () => {
    assertNotInstalled();
    await withSandbox(async (sandbox) => {
      const builder = makeUser(sandbox, 'bundler');
      const bundleDir = buildTestBundle(sandbox);
      deferUninstall(sandbox, null);
      // The bundle and a file of the builder's own, as if that user had built it (and meant harm).
      chownTree(join(bundleDir, '..'), builder.uid);
      const evil = join(bundleDir, '..', 'evil-launcher');
      writeFileSync(evil, "#!/bin/sh\n# swapped in by the bundle's owner\nexec /bin/sh\n", { mode: 0o755 });
      chownSync(evil, builder.uid, builder.uid);
      const launcherInBundle = join(bundleDir, BUNDLE_FILES.launcher);
      const verifiedLauncher = readFileSync(launcherInBundle);

      const swapper = spawn(
        'setpriv',
        [
          `--reuid=${builder.uid}`,
          `--regid=${builder.uid}`,
          '--clear-groups',
          '/usr/bin/python3',
          '-c',
          SWAP_AFTER_READ,
          launcherInBundle,
          evil,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      sandbox.defer(() => {
        if (swapper.exitCode === null) swapper.kill();
      });
      let said = '';
      swapper.stdout.on('data', (chunk: Buffer) => {
        said += chunk.toString();
      });
      swapper.stderr.on('data', (chunk: Buffer) => {
        said += chunk.toString();
      });
      await eventually(
        () => said,
        (text) => text.includes('watching'),
        'the swapper watching',
      );

      const installed = await runCli(['install', '--bundle', bundleDir]);
      await eventually(
        () => said,
        (text) => text.includes('swapped'),
        'install reading the launcher (swapped)',
      );
      assert.ok(lstatSync(launcherInBundle).isSymbolicLink(), 'the bundle now holds the link');
      assert.equal(installed.code, 0, installed.stderr);

      const manifest = JSON.parse(readFileSync(LAYOUT.manifest, 'utf8')) as Manifest;
      for (const copy of [LAYOUT.launcher, join(LAYOUT.libDir, BUNDLE_FILES.launcher)]) {
        const stats = lstatSync(copy);
        assert.ok(stats.isFile(), `${copy} is a file, not a link`);
        assert.equal(stats.uid, 0);
        const bytes = readFileSync(copy);
        assert.ok(bytes.equals(verifiedLauncher), `${copy} holds the verified launcher, not the swapped-in file`);
        assert.equal(sha256Of(bytes), manifest.files[BUNDLE_FILES.launcher]);
      }

      // Installing again from the bundle as it is now (a link in it) is refused, and changes nothing.
      const again = await runCli(['install', '--bundle', bundleDir]);
      assert.equal(again.code, 2, again.stderr); // invalid input
      assert.match(
        again.stderr,
        /polkit\/portcullis-helper-launch is a symbolic link; a bundle holds only files and directories/,
      );
      assert.ok(readFileSync(LAYOUT.launcher).equals(verifiedLauncher));
    });
  },
);

test(
  "uninstall with the pin directory at a bpffs root removes the helper's pins and leaves everyone else's",
  { timeout: 180_000 },
  async () => {
    assertNotInstalled();
    await withSandbox(async (sandbox) => {
      const bundleDir = buildTestBundle(sandbox);
      const paths = writeTestHelperConf(sandbox, { pinsAtBpffsRoot: true });
      deferUninstall(sandbox, paths.pinDir);
      const root = paths.pinDir;

      // Someone else's pins, beside ours and inside the very directories ours go in.
      mkdirSync(join(root, 'maps'), { mode: 0o700 });
      mkdirSync(join(root, 'links'), { mode: 0o700 });
      const foreign = ['foreign_map', 'maps/foreign_map', 'links/foreign_pin'];
      for (const pin of foreign) {
        pinStrayMap(join(root, pin), 'foreign');
      }
      const kernelOwn = readdirSync(root).filter((name) => name.endsWith('.debug')); // the kernel's iterators, if preloaded

      const installed = await runCli(['install', '--bundle', bundleDir]);
      assert.equal(installed.code, 0, installed.stderr);
      const helper = spawn(LAYOUT.launcher, [], { stdio: 'ignore', env: {} });
      sandbox.defer(() => {
        if (helper.exitCode === null) helper.kill('SIGKILL');
      });
      await eventually(() => existsSync(paths.socket), Boolean, "the installed helper's socket", { timeoutMs: 30_000 });
      const client = await HelperClient.connect({ socketPath: paths.socket, clientName: 'install test' });
      assert.equal((await client.call('status')).attach.pinDir, root);
      client.close();
      assert.ok(attachedPrograms(paths.cgroup).length > 0, 'programs attached to the test cgroup');

      // The manifest's list is what the helper really pins (a renamed map would show up here).
      const manifest = JSON.parse(readFileSync(LAYOUT.manifest, 'utf8')) as Manifest;
      const pinned = ['links', 'maps']
        .flatMap((dir) => readdirSync(join(root, dir)).map((name) => `${dir}/${name}`))
        .filter((pin) => !foreign.includes(pin));
      assert.ok(pinned.length > 10, pinned.join(' '));
      assert.deepEqual(
        pinned.filter((pin) => !manifest.pins.includes(pin)),
        [],
        'every pin the helper made is in the manifest',
      );

      const removed = spawnSync(LAYOUT.cliWrapper, ['uninstall', '--purge'], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin' },
      });
      assert.equal(removed.status, 0, removed.stderr + removed.stdout);
      assert.match(
        removed.stdout,
        new RegExp(
          `${root}: detached and unpinned ${pinned.length} pin\\(s\\); kept ${root}/links, ${root}/maps, ${root} \\(not empty: not ours\\)`,
        ),
      );
      await eventually(() => helper.exitCode ?? helper.signalCode, present, 'the helper process ended');

      for (const pin of pinned) assert.equal(existsSync(join(root, pin)), false, `${pin} unpinned`);
      for (const pin of foreign) assert.ok(lstatSync(join(root, pin)), `${pin} is still pinned`);
      const show = JSON.parse(
        execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(root, 'maps/foreign_map')], { encoding: 'utf8' }),
      ) as { name: string };
      assert.equal(show.name, 'foreign', 'the foreign pin still holds its map');
      for (const name of kernelOwn) assert.ok(existsSync(join(root, name)), `${name} is still there`);
      assert.deepEqual(
        readdirSync(root).filter((name) => name.startsWith('portcullis-uninstall')),
        [],
        'no staging directory left',
      );
      assert.deepEqual(attachedPrograms(paths.cgroup), [], 'nothing attached to the cgroup');
      for (const path of [LAYOUT.libDir, LAYOUT.launcher, LAYOUT.policy])
        assert.equal(existsSync(path), false, `${path} removed`);
    });
  },
);
