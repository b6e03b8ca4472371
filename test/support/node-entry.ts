// Command lines for the repository's TypeScript entry points: through tsx when the tests run from
// source, or the compiled twin under build/ when the tests themselves run compiled (the kernel
// matrix runs them so: under emulation tsx costs ten seconds and more per process).
import { join, resolve } from 'node:path';

const compiled = __filename.endsWith('.js');

/** The repository's root, from source (test/support) or compiled (build/test/support). */
export const REPO_ROOT = resolve(__dirname, '..', '..', ...(compiled ? ['..'] : []));

/** argv running `entry` (a .ts path relative to the repository root) with node. */
export function nodeArgv(entry: string): string[] {
  if (!compiled) return [process.execPath, '--import', 'tsx', join(REPO_ROOT, entry)];
  return [process.execPath, join(REPO_ROOT, 'build', entry.replace(/\.ts$/, '.js'))];
}
