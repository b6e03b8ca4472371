#!/usr/bin/env node
// `npm start`: the Electron app where Electron's binary is installed; otherwise the browser shell in
// a Chromium app window, saying which and why. Extra arguments go to the shell (e.g. --socket PATH).
'use strict';
const { existsSync } = require('node:fs');
const { spawn, spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const rendererIndex = join(root, 'build', 'renderer', 'index.html');

function electronBinary() {
  try {
    const path = require('electron'); // the package exports the binary's path, or throws when it was never downloaded
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

function run(command, args) {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
  const forward = (signal) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
}

function ensureRenderer() {
  if (existsSync(rendererIndex)) return;
  console.log('The renderer is not built yet; building it (npm run build:renderer)…');
  const built = spawnSync('npm', ['run', '--silent', 'build:renderer'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) process.exit(built.status ?? 1);
}

const electron = electronBinary();
if (electron) {
  const mainJs = join(root, 'build', 'main', 'app', 'main.js');
  const preloadJs = join(root, 'build', 'main', 'preload.js');
  if (!existsSync(mainJs) || !existsSync(preloadJs)) {
    console.error('Electron is installed but the app is not built: run npm run build:ts && npm run build:preload');
    process.exit(1);
  }
  ensureRenderer();
  console.log('Starting the Portcullis Electron app.');
  run(electron, [root]);
} else {
  console.log(
    "Electron's binary is not installed (it is downloaded from GitHub, unreachable here); starting the browser shell in a Chromium app window instead.",
  );
  ensureRenderer();
  const compiled = join(root, 'build', 'main', 'shell', 'entry.js');
  const args = ['--open', ...process.argv.slice(2)];
  if (existsSync(compiled)) run(process.execPath, [compiled, ...args]);
  else run(process.execPath, ['--import', 'tsx', join(root, 'main', 'shell', 'entry.ts'), ...args]);
}
