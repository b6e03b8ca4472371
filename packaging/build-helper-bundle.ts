// Builds build/helper-bundle from the compiled tree (npm run build:ts) and the native builds.
// Run with the node the bundle will run on: its ABI is recorded and checked at install time.
import { join, resolve } from 'node:path';
import { buildBundle } from '../main/install/bundle.js';
import { REPO_BUNDLE_DIR } from '../main/install/bundle-location.js';

const repoRoot = resolve(__dirname, '..');
const outDir = join(repoRoot, REPO_BUNDLE_DIR);
const manifest = buildBundle({ repoRoot, compiledRoot: join(repoRoot, 'build'), outDir });
console.log(
  `helper bundle ${manifest.version} (node ABI ${manifest.nodeAbi}): ${Object.keys(manifest.files).length} files in ${outDir}`,
);
