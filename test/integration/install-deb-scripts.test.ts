// The deb's maintainer scripts do what they claim, run the way dpkg runs them: postinst configure
// installs the bundle from the package's resources/helper; prerm remove uninstalls it; postrm
// remove/purge removes the /usr/bin link (and, on purge, the default state and config). The policy
// directory install makes goes with the package while empty, and stays with an administrator's file
// in it until purge; installing again leaves an existing one as it is. The package layout under
// /opt is staged by the test (Electron cannot be packaged here).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { installProblems } from '../../main/install/state.js';
import { withSandbox } from '../support/sandbox.js';
import { REPO_ROOT } from '../support/helper-process.js';
import { LAYOUT } from '../../main/common/install-layout.js';
import { assertNotInstalled, buildTestBundle, deferUninstall, INSTALLED_PATHS } from '../support/install-fixture.js';

/** electron-builder's macro expansion for deb scripts (FpmTarget writeConfigFile): ${name}, unknown names fail. */
function render(template: string, macros: Record<string, string>): string {
  return template.replace(/\$\{([a-zA-Z]+)\}/g, (_, name: string) => {
    if (!(name in macros)) throw new Error(`macro ${name} is not defined`);
    return macros[name]!;
  });
}

test(
  'deb postinst installs the bundle, prerm uninstalls it, postrm removes the link',
  { timeout: 180_000 },
  async () => {
    assertNotInstalled();
    await withSandbox(async (sandbox) => {
      const macros = {
        sanitizedProductName: `PortcullisTest-${sandbox.tag}`,
        executable: `portcullis-desktop-test-${sandbox.tag}`,
      };
      const appDir = join('/opt', macros.sanitizedProductName);
      const binLink = join('/usr/bin', macros.executable);
      sandbox.defer(() => {
        rmSync(appDir, { recursive: true, force: true });
        rmSync(binLink, { force: true });
      });
      const bundleDir = buildTestBundle(sandbox);
      deferUninstall(sandbox, null); // no helper runs in this test, so nothing is pinned

      // What the deb unpacks: the app under /opt with the helper bundle in resources/helper.
      mkdirSync(join(appDir, 'resources'), { recursive: true });
      cpSync(bundleDir, join(appDir, 'resources', 'helper'), { recursive: true });
      const scripts = sandbox.makeTempDir('deb-scripts');
      const script = (name: string, templated: boolean) => {
        const text = readFileSync(join(REPO_ROOT, 'packaging/deb', name), 'utf8');
        const path = join(scripts, name);
        writeFileSync(path, templated ? render(text, macros) : text, { mode: 0o755 });
        return (...args: string[]) =>
          spawnSync(path, args, { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      };
      const postinst = script('postinst', true);
      const prerm = script('prerm', false);
      const postrm = script('postrm', true);

      const installed = postinst('configure');
      assert.equal(installed.status, 0, installed.stderr + installed.stdout);
      assert.deepEqual(installProblems(), [], 'the install is complete, intact and root-owned');
      assert.equal(readlinkSync(binLink), join(appDir, macros.executable));

      // Upgrades leave the install alone (the new postinst installs over it).
      assert.equal(prerm('upgrade', '0.2.0').status, 0);
      assert.deepEqual(installProblems(), []);

      const removed = prerm('remove');
      assert.equal(removed.status, 0, removed.stderr + removed.stdout);
      assert.match(removed.stdout, new RegExp(`${LAYOUT.policyDir}: removed \\(empty\\)`));
      for (const path of INSTALLED_PATHS) assert.equal(existsSync(path), false, `${path} removed by prerm`);

      // Installed again, and the administrator drops a policy file in: removing the package keeps it.
      assert.equal(postinst('configure').status, 0);
      const policyFile = join(LAYOUT.policyDir, '10-admin.json');
      writeFileSync(policyFile, '{"format": "portcullis-rules", "version": 1, "rules": [], "lists": []}\n');
      // An existing directory the helper would refuse (group-writable) is reported and left as it is.
      chmodSync(LAYOUT.policyDir, 0o775);
      const again = postinst('configure');
      assert.equal(again.status, 0, again.stderr + again.stdout);
      assert.match(
        again.stdout,
        new RegExp(`${LAYOUT.policyDir} is writable by group or others \\(mode 775\\): left as it is`),
      );
      assert.equal(
        lstatSync(LAYOUT.policyDir).mode & 0o777,
        0o775,
        'install does not touch an existing policy directory',
      );
      chmodSync(LAYOUT.policyDir, 0o755);

      const keptFile = prerm('remove');
      assert.equal(keptFile.status, 0, keptFile.stderr + keptFile.stdout);
      assert.match(keptFile.stdout, new RegExp(`${LAYOUT.policyDir}: kept, it holds 1 file`));
      assert.deepEqual(readdirSync(LAYOUT.policyDir), ['10-admin.json'], "the administrator's policy file stays");
      for (const path of INSTALLED_PATHS.filter((path) => path !== LAYOUT.configDir))
        assert.equal(existsSync(path), false, `${path} removed by prerm`);

      assert.equal(postrm('remove').status, 0);
      assert.throws(() => lstatSync(binLink), /ENOENT/, 'the /usr/bin link is gone');
      const purged = postrm('purge');
      assert.equal(purged.status, 0, purged.stderr);
      assert.equal(existsSync(LAYOUT.configDir), false, 'purge removes /etc/portcullis with its policy files');
    });
  },
);
