// Finds the helper bundle to install: the bundle this code runs from (an installed or packaged
// copy has manifest.json at its root), else the repository's build/helper-bundle.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BUNDLE_FILES } from '../common/install-layout.js';

export const REPO_BUNDLE_DIR = 'build/helper-bundle';

export function findBundleDir(start: string = __dirname): string | null {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, BUNDLE_FILES.manifest)) && existsSync(join(dir, BUNDLE_FILES.installEntry))) return dir;
    const inRepo = join(dir, REPO_BUNDLE_DIR);
    if (existsSync(join(inRepo, BUNDLE_FILES.manifest))) return inRepo;
    if (dirname(dir) === dir) return null;
  }
}
