// The Electron app itself, through playwright's _electron, where an Electron binary exists. Its npm
// package is installed here but the binary (downloaded from GitHub at install) is not, so on such a
// machine this reports itself skipped with the reason; the browser-shell e2e covers the UI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { _electron } from 'playwright-core';
import { REPO_ROOT } from '../support/helper-process.js';
import { ipcInvokeNames, ipcNotifyNames, listenerName } from '../../main/contract/index.js';

function electronBinary(): string | null {
  try {
    const path = createRequire(join(REPO_ROOT, 'package.json'))('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
const skip = binary
  ? false
  : "Electron's binary is not installed (its postinstall download from GitHub is unreachable here)";

test('the Electron window exposes exactly the derived renderer API, sandboxed', { skip }, async () => {
  for (const script of ['build:ts', 'build:preload', 'build:renderer'])
    execFileSync('npm', ['run', '--silent', script], { cwd: REPO_ROOT, stdio: 'inherit' });
  const app = await _electron.launch({
    executablePath: binary!,
    args: [REPO_ROOT, ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
  });
  try {
    const window = await app.firstWindow();
    assert.equal(await window.title(), 'Portcullis');
    const keys = await window.evaluate(() =>
      Object.keys((window as unknown as { portcullis: object }).portcullis).sort(),
    );
    assert.deepEqual(keys, [...ipcInvokeNames, ...ipcNotifyNames.map(listenerName)].sort());
    // No node in the page.
    assert.equal(await window.evaluate(() => typeof (globalThis as { require?: unknown }).require), 'undefined');
  } finally {
    await app.close();
  }
});
