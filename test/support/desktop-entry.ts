// Desktop entries the tests own, so that classifying a desktop app scope does not depend on what
// applications the machine happens to have installed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from './sandbox.js';

export interface TestDesktopApp {
  id: string;
  name: string;
  icon: string;
  /** The Exec line: a program a test process runs makes it the app (an absolute path, say). */
  exec: string;
}

export const TEST_DESKTOP_APP: TestDesktopApp = {
  id: 'org.example.Viewer',
  name: 'Example Viewer',
  icon: 'org.example.Viewer',
  exec: 'example-viewer %U',
};

/** An XDG data directory holding applications/<id>.desktop for each app; removed with the sandbox. */
export function desktopDataDir(sandbox: Sandbox, apps: readonly TestDesktopApp[] = [TEST_DESKTOP_APP]): string {
  const dir = sandbox.makeTempDir('xdg-data');
  mkdirSync(join(dir, 'applications'));
  for (const { id, name, icon, exec } of apps) {
    writeFileSync(
      join(dir, 'applications', `${id}.desktop`),
      `[Desktop Entry]\nType=Application\nName=${name}\nIcon=${icon}\nExec=${exec}\n`,
    );
  }
  return dir;
}
