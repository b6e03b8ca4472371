// A desktop entry the tests own, so that classifying a desktop app scope does not depend on what
// applications the machine happens to have installed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from './sandbox.js';

export const TEST_DESKTOP_APP = {
  id: 'org.example.Viewer',
  name: 'Example Viewer',
  icon: 'org.example.Viewer',
} as const;

/** An XDG data directory holding applications/org.example.Viewer.desktop; removed with the sandbox. */
export function desktopDataDir(sandbox: Sandbox): string {
  const dir = sandbox.makeTempDir('xdg-data');
  mkdirSync(join(dir, 'applications'));
  const { id, name, icon } = TEST_DESKTOP_APP;
  writeFileSync(
    join(dir, 'applications', `${id}.desktop`),
    `[Desktop Entry]\nType=Application\nName=${name}\nIcon=${icon}\nExec=example-viewer %U\n`,
  );
  return dir;
}
