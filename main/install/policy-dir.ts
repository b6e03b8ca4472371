// The policy directory (/etc/portcullis/policy.d) is where configuration management drops policy
// files, so install makes it: root's, 0755, the way the helper will accept it. One that is already
// there is the administrator's and is never changed; if the helper would refuse it (not root's
// alone), install says so rather than fixing it, because its files may already be someone else's
// words. Uninstall removes it only when empty: the files in it are the administrator's.
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, type Stats } from 'node:fs';
import { LAYOUT } from '../common/install-layout.js';
import { unsafeReason } from '../common/root-alone.js';
import { DIR_MODE } from './root-files.js';

export interface PolicyDirOutcome {
  /** What install made (for its "done" list). */
  made: string[];
  /** What it found and left alone that the person should know about. */
  notes: string[];
}

/** Makes the config and policy directories that are missing; checks the ones that are there. */
export function ensurePolicyDir(): PolicyDirOutcome {
  const outcome: PolicyDirOutcome = { made: [], notes: [] };
  for (const dir of [LAYOUT.configDir, LAYOUT.policyDir]) {
    const stats = lstatOrNull(dir);
    if (stats === null) {
      mkdirSync(dir, { mode: DIR_MODE });
      chownSync(dir, 0, 0);
      chmodSync(dir, DIR_MODE); // the umask cannot loosen or tighten it
      outcome.made.push(`${dir} (root's, mode 755)`);
      continue;
    }
    const unsafe = unsafeReason(stats, 'directory');
    if (unsafe) {
      outcome.notes.push(
        `${dir} ${unsafe}: left as it is, and the helper reads no policy files until root alone owns it (chown root:root ${dir}; chmod go-w ${dir})`,
      );
      return outcome; // never make policy.d inside (or through) a directory others control
    }
  }
  return outcome;
}

/** Uninstall's step: the policy directory goes only when it holds nothing. */
export function removePolicyDirIfEmpty(): string {
  const stats = lstatOrNull(LAYOUT.policyDir);
  if (stats === null) return `${LAYOUT.policyDir}: absent`;
  if (!stats.isDirectory()) return `${LAYOUT.policyDir}: not a directory, left alone`;
  const entries = readdirSync(LAYOUT.policyDir);
  if (entries.length > 0)
    return `${LAYOUT.policyDir}: kept, it holds ${entries.length} file(s) of the administrator's (uninstall --purge removes them)`;
  rmdirSync(LAYOUT.policyDir);
  return `${LAYOUT.policyDir}: removed (empty)`;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}
