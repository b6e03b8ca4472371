// The bundle builder follows only real imports, refuses packages it does not know how to ship,
// and install refuses a bundle that differs from its manifest in any way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashTree, traceModules, type Manifest } from '../../../main/install/bundle.js';
import { verifyBundle } from '../../../main/install/install.js';
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
  };
  writeFileSync(join(root, BUNDLE_FILES.manifest), JSON.stringify(manifest));
  assert.equal(verifyBundle(root).version, '0.0.0-test');

  appendFileSync(join(root, BUNDLE_FILES.helperEntry), 'require("/tmp/evil.js");\n');
  assert.throws(() => verifyBundle(root), /portcullis-helper\.js does not match its hash/);
  writeFileSync(join(root, BUNDLE_FILES.helperEntry), `// ${BUNDLE_FILES.helperEntry}\n`);

  writeFileSync(join(root, 'extra.js'), 'module.exports = 0;\n');
  assert.throws(() => verifyBundle(root), /files not in the manifest: extra\.js/);
  rmSync(join(root, 'extra.js'));

  rmSync(join(root, BUNDLE_FILES.launcher));
  assert.throws(() => verifyBundle(root), /polkit\/portcullis-helper-launch is listed in the manifest but missing/);
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
    JSON.stringify({ name: 'portcullis-helper-bundle', version: '1', nodeAbi: '1', files: hashTree(root) }),
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
