// Whether root may run a file: the installer's and doctor's check (trusted-path.ts) and the
// launcher's own (the same rules in POSIX sh, run here from the launcher's text) on real chains of
// directories and links. The chains live in a fresh directory under /run (root's, 0755), so a
// good chain is good all the way up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { trustedPathProblems } from '../../../main/install/trusted-path.js';
import { LAYOUT } from '../../../main/common/install-layout.js';

const LAUNCHER = readFileSync(join(__dirname, '../../../polkit/portcullis-helper-launch'), 'utf8');
/** The launcher's two check functions, as written there. */
const SH_CHECK = LAUNCHER.slice(LAUNCHER.indexOf('trusted_chain() {'), LAUNCHER.indexOf('if [ "$#" -ne 0 ]'));

function launcherCheck(path: string): { ok: boolean; message: string } {
  const run = spawnSync('/bin/sh', ['-c', `${SH_CHECK}\ntrusted_chain "$1"`, 'check', path], { encoding: 'utf8' });
  return { ok: run.status === 0, message: run.stderr.trim() };
}

const asRoot = process.getuid?.() === 0;

test(
  "chains of links and directories: root's all the way passes, anything a user could change fails",
  { skip: !asRoot && 'needs root to make root- and user-owned files' },
  (t) => {
    assert.deepEqual(trustedPathProblems(LAYOUT.node), [], `this machine's ${LAYOUT.node} is root's all the way`);
    const base = mkdtempSync('/run/portcullis-trusted-path-');
    t.after(() => rmSync(base, { recursive: true, force: true }));
    chmodSync(base, 0o755);
    const dir = (rel: string, mode = 0o755, uid = 0) => {
      mkdirSync(join(base, rel), { recursive: true });
      chmodSync(join(base, rel), mode);
      chownSync(join(base, rel), uid, uid);
    };
    const file = (rel: string, mode = 0o755, uid = 0) => {
      writeFileSync(join(base, rel), '#!/bin/sh\n', { mode });
      chmodSync(join(base, rel), mode);
      chownSync(join(base, rel), uid, uid);
    };
    const link = (rel: string, target: string) => symlinkSync(target, join(base, rel));
    dir('bin');
    dir('real');
    file('real/node');
    dir('home/user', 0o755, 65534);
    file('home/user/node', 0o755, 65534);
    dir('shared', 0o775);
    file('shared/node');

    link('bin/system-node', LAYOUT.node);
    link('bin/relative-node', '../real/node');
    link('bin/hop', 'relative-node');
    link('bin/home-node', join(base, 'home/user/node')); // the root-owned link into a user's home
    link('bin/user-dir', '../home/user');
    link('bin/loop-a', 'loop-b');
    link('bin/loop-b', 'loop-a');
    link('bin/dangling', '../real/missing');

    for (const good of ['bin/system-node', 'bin/relative-node', 'bin/hop', 'real/node']) {
      assert.deepEqual(trustedPathProblems(join(base, good)), [], good);
      assert.deepEqual(launcherCheck(join(base, good)), { ok: true, message: '' }, good);
    }
    const bad: Array<[string, RegExp, RegExp]> = [
      [
        'bin/home-node',
        /home\/user is owned by uid 65534, not root \(reached through .*bin\/home-node -> /,
        /home\/user is owned by uid 65534, not root/,
      ],
      ['bin/user-dir/node', /home\/user is owned by uid 65534/, /home\/user is owned by uid 65534/],
      ['shared/node', /shared is writable by group or others/, /shared is writable by group or others/],
      ['bin/loop-a', /more than 40 symbolic links/, /more than 40 symbolic links/],
      ['bin/dangling', /real\/missing is missing/, /real\/missing is missing/],
      ['bin', /bin is not a regular file/, /bin is not a regular file/],
    ];
    for (const [path, installer, launcher] of bad) {
      const problems = trustedPathProblems(join(base, path));
      assert.ok(
        problems.some((problem) => installer.test(problem)),
        `${path}: ${problems.join('; ')}`,
      );
      const sh = launcherCheck(join(base, path));
      assert.equal(sh.ok, false, `the launcher refuses ${path}`);
      assert.match(sh.message, launcher);
    }
  },
);
