// Remembers that the first-run wizard was completed, and which mode was chosen, in the user's config
// directory ($XDG_CONFIG_HOME/portcullis/wizard.json). A missing or unreadable file means "not yet".
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { WizardState } from '../contract/index.js';

export function defaultConfigDir(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'portcullis');
}

export class WizardStore {
  constructor(readonly path: string = join(defaultConfigDir(), 'wizard.json')) {}

  load(): WizardState {
    try {
      const raw = JSON.parse(readFileSync(this.path, 'utf8')) as Partial<WizardState>;
      const mode = raw.mode === 'monitor' || raw.mode === 'allow-list' ? raw.mode : null;
      return { completed: raw.completed === true, mode };
    } catch {
      return { completed: false, mode: null };
    }
  }

  save(state: WizardState): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    // Write then rename, so a crash never leaves half a file behind.
    const temp = `${this.path}.tmp`;
    writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    renameSync(temp, this.path);
  }
}
