// electron-builder itself loads and validates both configs (its schema rejects unknown or mistyped
// keys); then the settings the release depends on are checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');
/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any -- electron-builder's internals are untyped here */
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string, fromOptions: null): Promise<Record<string, any>>;
  validateConfiguration(config: unknown, logger: unknown): Promise<void>;
};
const builderUtil = require('builder-util') as {
  DebugLogger: new (enabled: boolean) => unknown;
  log: { stream: NodeJS.WritableStream };
};
/* eslint-enable @typescript-eslint/no-require-imports */
const { DebugLogger } = builderUtil;
// Its log goes to stdout, which the test runner reads; keep it on stderr.
builderUtil.log.stream = process.stderr;

async function load(file: string): Promise<Record<string, any>> {
  const config = await getConfig(ROOT, file, null);
  await validateConfiguration(config, new DebugLogger(false));
  return config;
}

test('release config: deb + AppImage x64, fuses locked, helper bundle outside the asar, native modules unpacked', async () => {
  const config = await load('electron-builder.yml');
  assert.deepEqual(config.linux.target, [
    { target: 'deb', arch: ['x64'] },
    { target: 'AppImage', arch: ['x64'] },
  ]);
  assert.deepEqual(
    {
      runAsNode: config.electronFuses.runAsNode,
      nodeOptions: config.electronFuses.enableNodeOptionsEnvironmentVariable,
      inspect: config.electronFuses.enableNodeCliInspectArguments,
      asarOnly: config.electronFuses.onlyLoadAppFromAsar,
    },
    { runAsNode: false, nodeOptions: false, inspect: false, asarOnly: true },
  );
  assert.ok(config.asarUnpack.includes('**/*.node'));
  assert.deepEqual(
    config.extraResources.map((r: { from: string; to: string }) => [r.from, r.to]),
    [['build/helper-bundle', 'helper']],
  );
  assert.ok(config.files[0].filter.includes('!build/main/helper/**'), 'root-only helper code stays out of the app');
  assert.equal(config.npmRebuild, true);
  assert.notEqual(config.linux.executableName, 'portcullis', '/usr/bin/portcullis is the CLI');

  for (const script of [
    config.deb.afterInstall,
    config.deb.afterRemove,
    config.deb.fpm[0].replace('--before-remove=', ''),
  ]) {
    assert.ok(existsSync(join(ROOT, script)), `${script} exists`);
  }
  // postinst installs from where extraResources puts the bundle.
  assert.match(readFileSync(join(ROOT, config.deb.afterInstall), 'utf8'), /^BUNDLE="\$APP_DIR\/resources\/helper"$/m);
});

/* eslint-enable @typescript-eslint/no-explicit-any */

test('e2e config only turns the inspector back on', async () => {
  const release = await load('electron-builder.yml');
  const e2e = await load('electron-builder.e2e.yml');
  assert.deepEqual(e2e.electronFuses, { ...release.electronFuses, enableNodeCliInspectArguments: true });
  assert.notEqual(e2e.directories.output, release.directories.output);
});
