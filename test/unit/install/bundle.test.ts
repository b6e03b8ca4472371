// The bundle builder follows only real imports, refuses packages it does not know how to ship, and
// lists the pins the helper makes; install refuses a bundle that differs from its manifest in any
// way, and one that holds a link anywhere (it reads without following links).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree, pinsOf, traceModules, type Manifest } from '../../../main/install/bundle.js';
import { sha256Of, verifyBundle } from '../../../main/install/verified-bundle.js';
import { REPO_ROOT } from '../../support/helper-process.js';
import { BUNDLE_FILES } from '../../../main/common/install-layout.js';
import { findBundleDir, REPO_BUNDLE_DIR } from '../../../main/install/bundle-location.js';

function tree(t: { after(fn: () => void): void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'portcullis-bundle-test-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

test('tracing follows require and dynamic import, skips comments and built-ins', (t) => {
  const root = tree(t, {
    'main/a.js':
      '"use strict";\n// require("./never.js") in a comment is not an import\nconst b = require("./b.js");\nconst fs = require("node:fs");\nconst path = require("path");\n',
    'main/b.js': 'async function later() { return import(\'../lib/c.js\'); }\nconst db = require("better-sqlite3");\n',
    'lib/c.js': 'module.exports = 1;\n',
    'main/unused.js': 'module.exports = 2;\n',
  });
  const traced = traceModules(root, ['main/a.js']);
  assert.deepEqual([...traced.files].sort(), ['lib/c.js', 'main/a.js', 'main/b.js']);
  assert.deepEqual([...traced.packages], ['better-sqlite3']);
});

test('a dev-only or unknown package is a build error, not a silent omission', (t) => {
  const root = tree(t, { 'main/a.js': 'require("electron");\n' });
  assert.throws(() => traceModules(root, ['main/a.js']), /requires "electron", which is not a known runtime package/);
  const outside = tree(t, { 'main/a.js': 'require("../../etc/passwd");\n' });
  assert.throws(() => traceModules(outside, ['main/a.js']), /outside the compiled tree/);
});

test('install verifies the bundle: changed, missing and extra files are refused', (t) => {
  const files: Record<string, string> = {};
  for (const file of Object.values(BUNDLE_FILES)) if (file !== BUNDLE_FILES.manifest) files[file] = `// ${file}\n`;
  const root = tree(t, files);
  const manifest: Manifest = {
    name: 'portcullis-helper-bundle',
    version: '0.0.0-test',
    nodeAbi: process.versions.modules,
    files: hashTree(root),
    pins: ['links/pcl_x', 'maps/pcl_y'],
  };
  writeFileSync(join(root, BUNDLE_FILES.manifest), JSON.stringify(manifest));
  const verified = verifyBundle(root);
  assert.equal(verified.manifest.version, '0.0.0-test');
  // What install writes is what was hashed.
  assert.equal(sha256Of(verified.files.get(BUNDLE_FILES.launcher)!), manifest.files[BUNDLE_FILES.launcher]);
  assert.equal(verified.files.has(BUNDLE_FILES.manifest), false);

  appendFileSync(join(root, BUNDLE_FILES.helperEntry), 'require("/tmp/evil.js");\n');
  assert.throws(() => verifyBundle(root), /portcullis-helper\.js does not match its hash/);
  writeFileSync(join(root, BUNDLE_FILES.helperEntry), `// ${BUNDLE_FILES.helperEntry}\n`);

  writeFileSync(join(root, 'extra.js'), 'module.exports = 0;\n');
  assert.throws(() => verifyBundle(root), /files not in the manifest: extra\.js/);
  rmSync(join(root, 'extra.js'));

  rmSync(join(root, BUNDLE_FILES.launcher));
  assert.throws(() => verifyBundle(root), /polkit\/portcullis-helper-launch is listed in the manifest but missing/);
});

test('a link anywhere in the bundle is refused, never followed: a file, a directory, the launcher swapped for one', (t) => {
  const files: Record<string, string> = {};
  for (const file of Object.values(BUNDLE_FILES)) if (file !== BUNDLE_FILES.manifest) files[file] = `// ${file}\n`;
  const root = tree(t, { ...files, 'main/x.js': '1;\n' });
  const manifest: Manifest = {
    name: 'portcullis-helper-bundle',
    version: '1',
    nodeAbi: process.versions.modules,
    files: hashTree(root),
    pins: [],
  };
  writeFileSync(join(root, BUNDLE_FILES.manifest), JSON.stringify(manifest));
  verifyBundle(root);
  // A link whose target has the very bytes the manifest expects is still refused.
  const decoy = tree(t, { launcher: files[BUNDLE_FILES.launcher]! });
  renameSync(join(root, BUNDLE_FILES.launcher), join(root, 'kept'));
  symlinkSync(join(decoy, 'launcher'), join(root, BUNDLE_FILES.launcher));
  assert.throws(
    () => verifyBundle(root),
    /polkit\/portcullis-helper-launch is a symbolic link; a bundle holds only files and directories/,
  );
  rmSync(join(root, BUNDLE_FILES.launcher));
  renameSync(join(root, 'kept'), join(root, BUNDLE_FILES.launcher));
  renameSync(join(root, 'main'), join(decoy, 'main'));
  symlinkSync(join(decoy, 'main'), join(root, 'main'));
  assert.throws(() => verifyBundle(root), /main is a symbolic link/);
});

test('a manifest without a sound pin list is refused (uninstall removes those pins as root)', (t) => {
  const root = tree(
    t,
    Object.fromEntries(
      Object.values(BUNDLE_FILES)
        .filter((f) => f !== BUNDLE_FILES.manifest)
        .map((f) => [f, 'x\n']),
    ),
  );
  for (const pins of [undefined, ['links/../../etc'], ['maps/a/b'], ['progs/x']]) {
    writeFileSync(
      join(root, BUNDLE_FILES.manifest),
      JSON.stringify({
        name: 'portcullis-helper-bundle',
        version: '1',
        nodeAbi: process.versions.modules,
        files: hashTree(root),
        pins,
      }),
    );
    assert.throws(() => verifyBundle(root), /does not list the pins the helper makes/, JSON.stringify(pins));
  }
});

test('the pins come from the skeleton the addon embeds: a link per program, a map per map', () => {
  const pins = pinsOf(join(REPO_ROOT, 'build/bpf/portcullis.skel.h'));
  assert.ok(pins.includes('links/pcl_connect4') && pins.includes('maps/pcl_events'), pins.join(' '));
  // libbpf's data-map names have dots, which the addon pins as underscores.
  assert.ok(
    pins.some((pin) => /^maps\/_data_/.test(pin)),
    pins.join(' '),
  );
  assert.throws(() => pinsOf('/nonexistent/portcullis.skel.h'), /build the BPF objects: npm run build:bpf/);
});

test('a bundle built for another node ABI is refused with what to do', (t) => {
  const root = tree(
    t,
    Object.fromEntries(
      Object.values(BUNDLE_FILES)
        .filter((f) => f !== BUNDLE_FILES.manifest)
        .map((f) => [f, 'x\n']),
    ),
  );
  writeFileSync(
    join(root, BUNDLE_FILES.manifest),
    JSON.stringify({ name: 'portcullis-helper-bundle', version: '1', nodeAbi: '1', files: hashTree(root), pins: [] }),
  );
  assert.throws(() => verifyBundle(root), /built for Node ABI 1, but \/usr\/bin\/node has ABI \d+: rebuild the bundle/);
});

test('install finds the bundle it runs from, else the repository build', (t) => {
  const installed = tree(t, {
    [BUNDLE_FILES.manifest]: '{}',
    [BUNDLE_FILES.installEntry]: '',
    'main/cli/commands/install.js': '',
  });
  assert.equal(findBundleDir(join(installed, 'main/cli/commands')), installed);
  const repo = tree(t, { [`${REPO_BUNDLE_DIR}/${BUNDLE_FILES.manifest}`]: '{}', 'main/cli/commands/install.ts': '' });
  assert.equal(findBundleDir(join(repo, 'main/cli/commands')), join(repo, REPO_BUNDLE_DIR));
  const neither = tree(t, { 'main/cli/commands/install.ts': '' });
  assert.equal(findBundleDir(join(neither, 'main/cli/commands')), null);
});
