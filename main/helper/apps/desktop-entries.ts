// Desktop entries (.desktop files) from the XDG data dirs, Flatpak exports and Snap's directory:
// the name and icon a person knows an application by. Indexed by desktop id and by the executable
// their Exec line starts (for desktops that put no app scope around what they launch).
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface DesktopEntry {
  /** Desktop file id without ".desktop" ("org.gnome.Nautilus", "firefox", "kde4-foo" for kde4/foo.desktop). */
  id: string;
  name: string;
  icon: string | null;
  /** The executable the Exec line runs, resolved to its real path, when found. */
  exe: string | null;
  /** Its executable is a launcher or interpreter (env, sh, python3, flatpak...): not the app's own program. */
  launcher: boolean;
  /** When it is an interpreter: the script (absolute path) its Exec line gives it, else null. */
  script: string | null;
  path: string;
}

export interface DesktopLookup {
  byId(id: string): DesktopEntry | null;
  byExe(realExePath: string): DesktopEntry | null;
}

/** The XDG base directory spec's default for $XDG_DATA_DIRS. */
const XDG_DEFAULT_DATA_DIRS = ['/usr/local/share', '/usr/share'];
const FLATPAK_EXPORTS = '/var/lib/flatpak/exports/share';
const SNAP_DESKTOP_DIR = '/var/lib/snapd/desktop';

/**
 * Where desktop entries live: $XDG_DATA_DIRS of the helper's own environment (set by whoever runs
 * it as root; pkexec and systemd start it without one, so the spec's default applies), then
 * Flatpak's exports and Snap's directory. Relative entries are ignored, as the spec says.
 */
export function desktopDataDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = (env.XDG_DATA_DIRS ?? '').split(':').filter((dir) => dir.startsWith('/'));
  return [...(fromEnv.length > 0 ? fromEnv : XDG_DEFAULT_DATA_DIRS), FLATPAK_EXPORTS, SNAP_DESKTOP_DIR];
}
const DEFAULT_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin', '/snap/bin'];
/**
 * Programs that run other programs (launchers, shells, interpreters, runtimes): an entry whose Exec
 * starts one of them does not make that program its app.
 */
const LAUNCHER_PROGRAMS = new Set([
  'env',
  'sh',
  'bash',
  'dash',
  'zsh',
  'fish',
  'flatpak',
  'snap',
  'python',
  'python2',
  'python3',
  'perl',
  'ruby',
  'node',
  'java',
  'gjs',
  'electron',
  'wine',
  'mono',
  'sudo',
  'pkexec',
  'xdg-open',
  'gio',
  'gtk-launch',
  'kde-open',
  'kioclient',
  'kioclient5',
  'exo-open',
  'dbus-send',
  'gdbus',
  'systemd-run',
]);
/** Versioned interpreters ("python3.11", "ruby3.1", "electron25"). */
const VERSIONED_LAUNCHER = /^(python|perl|ruby|node|java|electron|lua)[0-9.]*$/;

const isLauncher = (exe: string): boolean => {
  const name = exe.slice(exe.lastIndexOf('/') + 1);
  return LAUNCHER_PROGRAMS.has(name) || VERSIONED_LAUNCHER.test(name);
};

/** Largest .desktop file read; real ones are a few KB. */
const MAX_FILE_BYTES = 256 * 1024;
const MAX_FILES = 20_000;

/** The [Desktop Entry] group's unlocalised keys. */
export function parseDesktopFile(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  let inEntry = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) {
      inEntry = line === '[Desktop Entry]';
      continue;
    }
    if (!inEntry || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    // Localised variants (Name[de]) are skipped: the helper has no locale of its own; the UI may add one.
    if (!key.includes('[') && !keys.has(key)) keys.set(key, line.slice(eq + 1).trim());
  }
  return keys;
}

/** The program an Exec line starts, skipping `env VAR=value` prefixes (field codes and arguments ignored). */
export function execProgram(exec: string): string | null {
  return execWords(exec)[0] ?? null;
}

/** An Exec line's words from its program on (`env VAR=value` prefixes skipped, quotes removed). */
function execWords(exec: string): string[] {
  const words = exec.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  let i = 0;
  if (words[i] === 'env' || words[i] === '/usr/bin/env') {
    i++;
    while (i < words.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i]!)) i++;
  }
  return words.slice(i).map((word) => (word.startsWith('"') ? word.slice(1, -1).replace(/\\(.)/g, '$1') : word));
}

function resolveProgram(program: string, searchPath: string[]): string | null {
  const candidates = program.startsWith('/') ? [program] : searchPath.map((dir) => join(dir, program));
  for (const candidate of candidates) {
    try {
      const real = realpathSync(candidate);
      if (statSync(real).isFile()) return real;
    } catch {
      /* not here */
    }
  }
  return null;
}

export class DesktopEntries implements DesktopLookup {
  private readonly ids = new Map<string, DesktopEntry>();
  /** Each program started by exactly one shown entry (null once a second one starts it too). */
  private readonly exes = new Map<string, DesktopEntry | null>();

  /** `dataDirs` in XDG order (earlier wins); the applications/ directory under each is read. */
  constructor(
    private readonly dataDirs: string[] = desktopDataDirs(),
    private readonly searchPath: string[] = DEFAULT_PATH,
  ) {
    this.refresh();
  }

  refresh(): void {
    this.ids.clear();
    this.exes.clear();
    let budget = MAX_FILES;
    for (const dir of this.dataDirs) budget = this.scan(join(dir, 'applications'), '', budget);
  }

  byId(id: string): DesktopEntry | null {
    return this.ids.get(id) ?? null;
  }

  /** The one desktop entry whose own program this is: not a launcher or interpreter, not shared by two entries. */
  byExe(realExePath: string): DesktopEntry | null {
    return this.exes.get(realExePath) ?? null;
  }

  private scan(dir: string, prefix: string, budget: number): number {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return budget;
    }
    for (const name of names) {
      if (budget <= 0) return 0;
      const path = join(dir, name);
      if (name.endsWith('.desktop')) {
        budget--;
        this.add(`${prefix}${name.slice(0, -'.desktop'.length)}`, path);
      } else if (!name.startsWith('.')) {
        try {
          // The desktop id of applications/kde4/foo.desktop is "kde4-foo".
          if (statSync(path).isDirectory()) budget = this.scan(path, `${prefix}${name}-`, budget);
        } catch {
          /* vanished */
        }
      }
    }
    return budget;
  }

  private add(id: string, path: string): void {
    if (this.ids.has(id)) return; // an earlier data dir overrides a later one
    let text: string;
    try {
      if (statSync(path).size > MAX_FILE_BYTES) return;
      text = readFileSync(path, 'utf8');
    } catch {
      return;
    }
    const keys = parseDesktopFile(text);
    if (keys.get('Type') !== undefined && keys.get('Type') !== 'Application') return;
    const words = execWords(keys.get('TryExec') ?? keys.get('Exec') ?? '');
    const program = words[0] ?? null;
    const exe = program ? resolveProgram(program, this.searchPath) : null;
    const launcher = isLauncher(program ?? '') || (exe !== null && isLauncher(exe));
    const argument = keys.has('TryExec') ? undefined : words[1];
    const entry: DesktopEntry = {
      id,
      name: keys.get('Name') ?? id,
      icon: keys.get('Icon') || null,
      exe,
      launcher,
      script: launcher && argument?.startsWith('/') ? argument : null,
      path,
    };
    this.ids.set(id, entry);
    // Terminal programs and hidden entries (an interpreter's menu item, say) do not name whoever runs
    // their executable; nor does a launcher, an interpreter or a program two entries start.
    const hidden = keys.get('NoDisplay') === 'true' || keys.get('Hidden') === 'true' || keys.get('Terminal') === 'true';
    if (!entry.exe || hidden || launcher) return;
    this.exes.set(entry.exe, this.exes.has(entry.exe) ? null : entry);
  }
}
