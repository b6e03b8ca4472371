// Policy as files: every *.json in the policy directory (root-owned, the export's document format)
// is applied as rules and lists managed by that file, which clients cannot change or remove. Read
// at start and again when the directory changes (a watch, debounced, and SIGHUP). A file that is
// malformed, or that root does not own alone, is reported and keeps the rules it last applied; a
// file that goes takes its rules with it. The directory is the helper's own setting, never a
// client's: the helper reads only what root wrote there.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { unsafeReason } from '../../common/root-alone.js';
import { basename, dirname, join } from 'node:path';
import { parseDocument, type PolicyFileStatus, type PolicyStatus } from '../../contract/index.js';
import type { RulesEngine } from '../engine.js';
import { storeDocument } from '../lists/document-import.js';

/** A policy file is a document people write; past this it is a mistake, not a policy. */
const MAX_POLICY_BYTES = 64 * 1024 * 1024;
const DEBOUNCE_MS = 250;

interface FileRecord extends PolicyFileStatus {
  /** The content last applied (sha256), to skip files that did not change. */
  appliedHash: string | null;
}

export class PolicyFiles {
  private readonly files = new Map<string, FileRecord>();
  private dirError: string | null = null;
  private watcher: FSWatcher | null = null;
  private watching: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly onHangup = () => this.soon();

  constructor(
    private readonly engine: RulesEngine,
    readonly dir: string,
    private readonly log: (message: string) => void,
  ) {}

  /** Applies the directory as it is now, then follows its changes. */
  async start(): Promise<void> {
    await this.rescan();
    process.on('SIGHUP', this.onHangup);
  }

  stop(): void {
    this.stopped = true;
    process.off('SIGHUP', this.onHangup);
    if (this.timer) clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = null;
  }

  status(): PolicyStatus {
    return {
      dir: this.dir,
      error: this.dirError,
      files: [...this.files.values()]
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map(({ appliedHash: _hash, ...file }) => file),
    };
  }

  /** Reads the directory again (one scan at a time; a change during a scan makes one more). */
  rescan(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.scan().catch((error: Error) => this.log(`policy: scanning ${this.dir} failed: ${error.message}`));
      } while (this.again && !this.stopped);
      this.follow();
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private soon(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.rescan();
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  /** Watches the directory, or its parent while it does not exist (so its creation is seen). */
  private follow(): void {
    if (this.stopped) return;
    let target = this.dir;
    try {
      lstatSync(this.dir);
    } catch {
      target = dirname(this.dir);
    }
    if (this.watching === target && this.watcher) return;
    this.watcher?.close();
    this.watcher = null;
    this.watching = null;
    try {
      this.watcher = watch(target, { persistent: false }, () => this.soon());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
        this.soon();
      });
      this.watching = target;
    } catch (error) {
      this.log(`policy: cannot watch ${target} (${(error as NodeJS.ErrnoException).code}); changes apply on SIGHUP`);
    }
  }

  private async scan(): Promise<void> {
    const names = this.listDir();
    if (names === null) return; // an unsafe directory: nothing is read, what was applied stays
    const seen = new Set(names);
    for (const name of names) await this.applyFile(name);
    // Files that went take their rules and lists with them.
    const gone = [...this.files.keys()].filter((name) => !seen.has(name));
    for (const name of this.managedNames()) if (!seen.has(name) && !gone.includes(name)) gone.push(name);
    for (const name of gone) {
      const path = join(this.dir, name);
      const { removed } = await storeDocument(
        this.engine,
        { format: 'portcullis-rules', version: 1, rules: [], lists: [] },
        path,
        { managedBy: path, replace: true },
      );
      this.files.delete(name);
      this.log(`policy: ${path} is gone; removed its rules and lists (${removed} rule(s) and entries)`);
    }
  }

  /** The *.json names in the directory; [] when it does not exist; null when it is not root's alone. */
  private listDir(): string[] | null {
    let stats: Stats;
    try {
      stats = lstatSync(this.dir);
    } catch {
      this.dirError = null;
      return [];
    }
    const unsafe = unsafeReason(stats, 'directory');
    if (unsafe) {
      const error = `${this.dir} ${unsafe}; its files are not read`;
      if (error !== this.dirError) this.log(`policy: ${error}`);
      this.dirError = error;
      return null;
    }
    this.dirError = null;
    return readdirSync(this.dir)
      .filter((name) => name.endsWith('.json') && !name.startsWith('.'))
      .sort();
  }

  /** The file names (in this directory) that rules or lists are managed by now. */
  private managedNames(): string[] {
    const names = new Set<string>();
    const take = (managedBy: string | null | undefined) => {
      if (managedBy && dirname(managedBy) === this.dir) names.add(basename(managedBy));
    };
    for (const rule of this.engine.rules.list()) take(rule.managedBy);
    for (const list of this.engine.lists.list()) take(list.managedBy);
    return [...names];
  }

  private async applyFile(name: string): Promise<void> {
    const path = join(this.dir, name);
    const record = this.files.get(name) ?? {
      name,
      state: 'applied' as const,
      error: null,
      rules: 0,
      lists: 0,
      appliedAt: null,
      appliedHash: null,
    };
    this.files.set(name, record);
    const problem = (state: 'malformed' | 'refused', error: string) => {
      if (record.state !== state || record.error !== error)
        this.log(
          `policy: ${path}: ${error}; ${record.appliedAt !== null ? 'its last good rules stay' : 'nothing of it is applied'}`,
        );
      record.state = state;
      record.error = error;
    };
    let text: string;
    try {
      const stats = lstatSync(path);
      const unsafe = unsafeReason(stats, 'file');
      if (unsafe) return problem('refused', `${unsafe}; refusing to apply it`);
      if (stats.size > MAX_POLICY_BYTES)
        return problem('refused', `is ${stats.size} bytes, more than a policy file may hold (${MAX_POLICY_BYTES})`);
      text = readFileSync(path, 'utf8');
    } catch (error) {
      return problem(
        'refused',
        `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
    const hash = createHash('sha256').update(text).digest('hex');
    if (hash === record.appliedHash && record.state === 'applied') return;
    const document = parseDocument(text, name);
    if (!document.ok) return problem('malformed', `${document.error.where}: ${document.error.message}`);
    try {
      const stored = await storeDocument(this.engine, document.value, path, { managedBy: path, replace: true });
      const rules = this.engine.rules.list().filter((rule) => rule.managedBy === path).length;
      Object.assign(record, {
        state: 'applied',
        error: null,
        rules,
        lists: stored.lists.length,
        appliedAt: Date.now(),
        appliedHash: hash,
      });
      this.log(
        `policy: applied ${path}: ${rules} rule(s), ${stored.lists.length} list(s) (+${stored.added} -${stored.removed})${stored.skippedCount > 0 ? `; ${stored.skippedCount} entries skipped (first: ${stored.skipped[0]!.text}: ${stored.skipped[0]!.reason})` : ''}`,
      );
    } catch (error) {
      problem('malformed', (error as Error).message);
    }
  }
}
