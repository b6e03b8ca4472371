// `portcullis install [--systemd] [--bundle DIR]` (root): the helper bundle, launcher, polkit
// action and CLI into their fixed system places; see main/install/install.ts.
import { PortcullisError } from '../../contract/index.js';
import { findBundleDir } from '../../install/bundle-location.js';
import { install } from '../../install/install.js';
import type { Command } from '../command.js';

export const installCommand: Command = {
  name: 'install',
  summary: 'install the helper, its polkit action and launcher system-wide (root)',
  synopsis: '[--systemd] [--bundle DIR]',
  flags: {
    systemd: { type: 'boolean', description: 'also install and enable the systemd unit (enforcement from boot)' },
    bundle: {
      type: 'string',
      description: 'helper bundle to install (default: this one, or build/helper-bundle)',
      placeholder: 'DIR',
    },
  },
  json: false,
  async run(context) {
    const bundleDir = typeof context.flags.bundle === 'string' ? context.flags.bundle : findBundleDir(__dirname);
    if (!bundleDir) {
      throw new PortcullisError(
        'not-found',
        'no helper bundle found: run `npm run build && npm run build:helper-bundle`, or pass --bundle DIR',
      );
    }
    const result = install({ bundleDir, systemd: context.flags.systemd === true });
    for (const line of result.done) context.out(`installed ${line}`);
    if (!result.ok) throw result.error;
    for (const line of result.notes) context.note(line);
    return 0;
  },
};
