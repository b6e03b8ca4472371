// `portcullis uninstall [--purge]` (root): runs the installed bundle's own uninstaller, which stops
// the helper, detaches and unpins its programs (with the addon, which only root code loads) and
// removes every installed file; --purge also removes the rules database and /etc/portcullis.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PortcullisError } from '../../contract/index.js';
import { findBundleDir } from '../../install/bundle-location.js';
import { requireRoot } from '../../install/install.js';
import { BUNDLE_FILES, LAYOUT } from '../../common/install-layout.js';
import type { Command } from '../command.js';

export const uninstallCommand: Command = {
  name: 'uninstall',
  summary: 'stop and remove the helper, its pins and installed files (root); --purge also the rules',
  synopsis: '[--purge]',
  flags: { purge: { type: 'boolean', description: 'also delete the rules database and /etc/portcullis' } },
  json: false,
  async run(context) {
    requireRoot('uninstall');
    // The installed copy knows what it installed; without one, this build's bundle cleans up.
    const bundleDir = existsSync(LAYOUT.installEntry) ? LAYOUT.libDir : findBundleDir(__dirname);
    if (!bundleDir)
      throw new PortcullisError(
        'not-found',
        `nothing to run: ${LAYOUT.installEntry} is missing and no helper bundle was found`,
      );
    const args = [
      join(bundleDir, BUNDLE_FILES.installEntry),
      'uninstall',
      ...(context.flags.purge === true ? ['--purge'] : []),
    ];
    const run = spawnSync(LAYOUT.node, args, {
      env: {},
      cwd: '/',
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const line of run.stdout.split('\n').filter(Boolean)) context.out(line);
    if (run.status !== 0) {
      throw new PortcullisError(
        'internal',
        run.stderr.trim().replace(/^portcullis-install: /, '') || `uninstall exited with status ${run.status}`,
      );
    }
    return 0;
  },
};
