// Is Portcullis installed, intact and safe to start? For `portcullis doctor` and the wizard;
// unprivileged (everything it reads is world-readable). "Safe" means every installed file and
// every directory and link on the way to it is root-owned and writable by nobody else, so no user
// can swap what pkexec will run as root.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Check } from '../contract/index.js';
import { hashTree, sha256, type Manifest } from './bundle.js';
import { BUNDLE_FILES, LAYOUT } from '../common/install-layout.js';
import { trustedPathProblems } from './trusted-path.js';

export function installedCheck(): Check {
  const base = { id: 'installed' as const, label: 'installed helper' };
  const problems = installProblems();
  if (problems.length === 0) {
    const manifest = readManifest();
    return {
      ...base,
      ok: true,
      detail: `version ${manifest?.version}, ${LAYOUT.libDir}, polkit actions and launcher in place`,
      fix: null,
    };
  }
  return {
    ...base,
    ok: false,
    detail: problems.slice(0, 3).join('; '),
    fix: 'reinstall: sudo portcullis install (or reinstall the package)',
  };
}

/** Everything wrong with the installed files; empty when the install is complete and intact. */
export function installProblems(): string[] {
  const manifest = readManifest();
  if (!manifest) return [`${LAYOUT.manifest} is missing or unreadable: not installed`];
  const problems: string[] = [];
  const actual = hashTree(LAYOUT.libDir);
  for (const [file, hash] of Object.entries(manifest.files)) {
    if (actual[file] !== hash)
      problems.push(`${join(LAYOUT.libDir, file)} ${actual[file] ? 'was modified' : 'is missing'}`);
  }
  const copies: Array<[string, string]> = [
    [LAYOUT.launcher, BUNDLE_FILES.launcher],
    [LAYOUT.policy, BUNDLE_FILES.policy],
    [LAYOUT.managePolicy, BUNDLE_FILES.managePolicy],
  ];
  for (const [installed, inBundle] of copies) {
    try {
      if (sha256(installed) !== manifest.files[inBundle])
        problems.push(`${installed} differs from the installed bundle's copy`);
    } catch {
      problems.push(`${installed} is missing`);
    }
  }
  for (const path of [LAYOUT.launcher, LAYOUT.policy, LAYOUT.managePolicy, LAYOUT.helperEntry, LAYOUT.node])
    problems.push(...trustedPathProblems(path));
  return problems;
}

function readManifest(): Manifest | null {
  try {
    return JSON.parse(readFileSync(LAYOUT.manifest, 'utf8')) as Manifest;
  } catch {
    return null;
  }
}
