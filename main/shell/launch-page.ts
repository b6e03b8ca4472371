// The launch page: how the browser shell hands the browser it starts a sign-in code without the
// code appearing on any command line or in any environment (both readable by other local users).
// A small HTML file, 0600 in a fresh 0700 directory of the user's runtime directory, that sends
// the browser on to the shell's sign-in address; the browser is given only the file's path.
import { chmodSync, lstatSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export class LaunchPage {
  private constructor(
    private readonly dir: string,
    readonly path: string,
  ) {}

  /** Makes the private directory: in `parent`, else $XDG_RUNTIME_DIR when it is ours and private, else the temp dir. */
  static create(parent: string = privateRuntimeDir() ?? tmpdir()): LaunchPage {
    const dir = mkdtempSync(join(parent, 'portcullis-shell-')); // mkdtemp makes it 0700
    chmodSync(dir, 0o700);
    return new LaunchPage(dir, join(dir, 'open.html'));
  }

  /** What to give the browser: the file, not what is in it. */
  get url(): string {
    return pathToFileURL(this.path).href;
  }

  /** Points the page at a sign-in address (replacing the file whole, so a reader never sees half of it). */
  write(signInUrl: string): void {
    const href = escapeHtml(signInUrl);
    const html =
      `<!doctype html>\n<meta charset="utf-8">\n<meta name="referrer" content="no-referrer">\n` +
      `<meta http-equiv="refresh" content="0;url=${href}">\n<title>Portcullis</title>\n` +
      `<p>Opening Portcullis… <a href="${href}">continue</a></p>\n`;
    const temp = `${this.path}.tmp`;
    rmSync(temp, { force: true });
    writeFileSync(temp, html, { mode: 0o600, flag: 'wx' });
    renameSync(temp, this.path);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** $XDG_RUNTIME_DIR if it is a directory of ours that nobody else may enter. */
function privateRuntimeDir(): string | null {
  const dir = process.env.XDG_RUNTIME_DIR;
  if (!dir) return null;
  try {
    const stats = lstatSync(dir);
    return stats.isDirectory() && stats.uid === process.getuid?.() && (stats.mode & 0o077) === 0 ? dir : null;
  } catch {
    return null;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
