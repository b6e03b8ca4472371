// The bundle's own installer, run as root with /usr/bin/node: by the deb's postinst (install) and
// prerm (uninstall), by `portcullis uninstall`, and by install's self-check. Lives in the bundle
// because uninstall needs the addon (Firewall.detach) and the addon is only loaded by root code.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { Firewall } from '../../../native/index.js';
import { install } from '../install.js';
import { uninstall } from '../uninstall.js';
import { findBundleDir } from '../bundle-location.js';
import type { Manifest } from '../bundle.js';
import { BUNDLE_FILES } from '../../common/install-layout.js';

const USAGE = 'usage: portcullis-install.js install [--systemd] [--bundle DIR] | uninstall [--purge] | self-check';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: { systemd: { type: 'boolean' }, bundle: { type: 'string' }, purge: { type: 'boolean' } },
    strict: true,
  });
  if (command === 'install') {
    const bundleDir = values.bundle ?? findBundleDir(__dirname);
    if (!bundleDir) return fail('no helper bundle found; pass --bundle DIR');
    const result = install({ bundleDir, systemd: values.systemd === true });
    for (const line of result.done) console.log(`installed ${line}`);
    if (!result.ok) return fail(result.error.message);
    for (const line of result.notes) console.log(`note: ${line}`);
    return 0;
  }
  if (command === 'uninstall') {
    // The pins this code's helper makes, from the manifest of the bundle it runs from.
    const bundleDir = findBundleDir(__dirname);
    const pins = bundleDir ? readManifest(bundleDir)?.pins : undefined;
    if (!pins) return fail(`no manifest listing the helper's pins beside ${__dirname}; nothing was removed`);
    const result = await uninstall({ purge: values.purge === true, firewall: Firewall, pins });
    for (const line of result.done) console.log(line);
    return result.ok ? 0 : fail(result.error.message);
  }
  if (command === 'self-check') {
    // Loading both native modules proves the bundle matches this node and is complete.
    new Database(':memory:').close();
    if (typeof Firewall.detach !== 'function') return fail('the addon has no Firewall.detach');
    return 0;
  }
  return fail(USAGE);
}

function readManifest(bundleDir: string): Manifest | null {
  try {
    return JSON.parse(readFileSync(join(bundleDir, BUNDLE_FILES.manifest), 'utf8')) as Manifest;
  } catch {
    return null;
  }
}

function fail(message: string): number {
  console.error(`portcullis-install: ${message}`);
  return 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`portcullis-install: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
