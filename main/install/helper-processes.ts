// Finding the installed helper's processes: `/usr/bin/node /usr/lib/portcullis/portcullis-helper.js`,
// however it was started (pkexec, systemd, the launcher run by root).
import { readdirSync, readFileSync } from 'node:fs';
import { LAYOUT } from '../common/install-layout.js';

export function installedHelperPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0] === LAYOUT.node && argv[1] === LAYOUT.helperEntry) pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}
