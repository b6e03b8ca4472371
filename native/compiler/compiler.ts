// Compiles CompilableRule[] into the byte layout of bpf/portcullis.h: exact-address hashes, LPM
// tries, the v6 prefix hash and its buckets (v6-buckets.ts), and deduplicated clause sets. Pure (no
// I/O), so the precedence logic is unit-tested without a kernel. See portcullis.h for precedence
// and for how the kernel reads these maps.
//
// One compiler serves both ways of applying rules. It keeps the rules indexed by kernel key
// (family, scope, prefix: key-table.ts) and refcounted clause sets whose ids are the kernel's
// array slots (clause-sets.ts), so a change of some rules recompiles only the keys it affects (the
// changed keys, and every key under a changed prefix, since they inherit its clauses) into entry
// upserts and deletes; a full compile (for a swap) is the same sweep (sweep.ts) with every key
// affected and a fresh set table. A first load skips the key index (its keys are merged in the
// full compile's sorted walk, the index is built when a change first needs it): that apply is the
// one a user waits for at start.
import type { KernelDefaults, CompilableRule } from '../api.js';
import * as byteOrder from './byte-order.js';
import { SetTable } from './clause-sets.js';
import { EntryWriter, type Writers } from './entry-writer.js';
import { Scratch, sweepKeys } from './key-order.js';
import { BULK_LOAD_MIN, FamilyTable, isList, withCoveredSlots, withCoveringSlots } from './key-table.js';
import {
  appInfo,
  DEFAULT_CODE,
  ENTRY_MAPS,
  MAX_CLAUSES,
  SET_BYTES,
  V6_SPLIT_MAX,
  type EntryMap,
  type RuleMap,
} from './layout.js';
import { sweep, type SweepState } from './sweep.js';
import type { CompiledChange, CompiledRules, EntryChange, GrowingImage, MapImage } from './types.js';
import { chooseV6Split, V6Buckets } from './v6-buckets.js';
import * as validation from './validation.js';

// Module-local bindings of what runs per rule (an imported name is a getter under tsx).
const { HOST_LE, writeU32 } = byteOrder;
const { validateDefaults, validateRule } = validation;

/** The rules the kernel should enforce, indexed by kernel key, and the clause sets of their entries. */
export class RuleCompiler {
  private tables = { 4: new FamilyTable(4), 6: new FamilyTable(6) };
  private sets = new SetTable();
  /** Slots changed since the last compile, per family (tracked once something is installed). */
  private changed: Record<4 | 6, Set<number>> = { 4: new Set(), 6: new Set() };
  private compiledOnce = false;
  /** The apps with rules of their own in the kernel (their pcl_app_dflt entry says so: see appInfo). */
  private scopesInKernel = new Set<number>();
  /** A rule of an app without rules in the kernel was added: only a full compile marks its scope. */
  private scopeAdded = false;
  private held = 0;
  private readonly counts: Record<EntryMap, number> = { v4Exact: 0, v6Exact: 0, v4Lpm: 0, v6Lpm: 0, v6Prefix: 0 };
  /** v6 buckets of the installed v6Prefix keys, and the split they use (fixed until the next full compile). */
  private v6 = new V6Buckets(V6_SPLIT_MAX, false);

  constructor(readonly littleEndian = HOST_LE) {}

  /** Entries in the kernel per map (as of the last compile). */
  entryCounts(): Record<RuleMap, number> {
    return { ...this.counts, v6Buckets: this.v6.count };
  }

  /** Every rule held, in no particular order. */
  *rules(): Iterable<CompilableRule> {
    for (const table of [this.tables[4], this.tables[6]]) {
      for (const rules of table.rules) {
        if (rules === undefined) continue;
        if (isList(rules)) yield* rules;
        else yield rules;
      }
    }
  }

  has(rule: CompilableRule): boolean {
    return (rule.family === 4 || rule.family === 6) && this.tables[rule.family].has(rule);
  }

  /** Rules held. */
  get ruleCount(): number {
    return this.held;
  }

  /** Whether the next compile must be compileAll (nothing installed yet, or the tables were rebuilt). */
  get needsFullCompile(): boolean {
    return !this.compiledOnce || this.scopeAdded;
  }

  /**
   * Takes out `removed` (the very objects given before) and takes in `added` (each object once).
   * Checks everything first and throws before changing anything, naming the culprit.
   */
  update(removed: readonly CompilableRule[], added: readonly CompilableRule[], addedName = 'added'): void {
    for (let i = 0; i < added.length; i++) validateRule(added[i]!, i, addedName);
    const changes = removed.length + added.length;
    if (changes >= BULK_LOAD_MIN && changes * 2 >= this.held - removed.length + added.length) {
      this.rebuild(removed, added);
      return;
    }
    const gone = new Set<CompilableRule>();
    for (let i = 0; i < removed.length; i++) {
      const rule = removed[i]!;
      if (gone.has(rule) || !this.has(rule)) notHeld(removed, i);
      gone.add(rule);
    }
    const track = this.compiledOnce;
    this.held += added.length - removed.length;
    // Indexed loops: for-of runs once per apply, mostly before it is optimized, and there made an
    // iterator result per rule (tens of megabytes of garbage for a million).
    let addedV4 = 0;
    for (let i = 0; i < added.length; i++) if (added[i]!.family === 4) addedV4++;
    for (let i = 0; i < removed.length; i++) {
      const rule = removed[i]!;
      const slot = this.tables[rule.family].remove(rule);
      if (track) this.changed[rule.family].add(slot);
    }
    // Many rules into an empty family before anything is installed (a first apply): appended
    // unindexed; the full compile that follows merges repeated keys in its sorted walk.
    const bulk = (table: FamilyTable, count: number) => !track && count >= BULK_LOAD_MIN && table.bulkLoadable;
    const bulkV4 = bulk(this.tables[4], addedV4);
    const bulkV6 = bulk(this.tables[6], added.length - addedV4);
    this.tables[4].reserve(addedV4, bulkV4);
    this.tables[6].reserve(added.length - addedV4, bulkV6);
    for (let i = 0; i < added.length; i++) {
      const rule = added[i]!;
      const table = this.tables[rule.family];
      if (rule.scope !== 0 && !this.scopesInKernel.has(rule.scope)) this.scopeAdded = true;
      if (rule.family === 4 ? bulkV4 : bulkV6) {
        table.append(rule);
        continue;
      }
      const slot = table.add(rule);
      if (track) this.changed[rule.family].add(slot);
    }
  }

  /**
   * A change that replaces most of the ruleset (a list of a million addresses coming or going):
   * fresh tables bulk-loaded with what remains, as a first load is, and a full compile next. Key by
   * key, the index probes, the slots changed and the diff compiled only to be thrown away for a
   * swap cost three times the whole compile.
   */
  private rebuild(removed: readonly CompilableRule[], added: readonly CompilableRule[]): void {
    const gone = new Set<CompilableRule>();
    for (let i = 0; i < removed.length; i++) {
      if (gone.has(removed[i]!)) notHeld(removed, i);
      gone.add(removed[i]!);
    }
    const kept: CompilableRule[] = [];
    let found = 0;
    for (const rule of this.rules()) {
      if (gone.has(rule)) found++;
      else kept.push(rule);
    }
    if (found !== gone.size)
      notHeld(
        removed,
        removed.findIndex((rule) => !this.has(rule)),
      );
    const tables = { 4: new FamilyTable(4), 6: new FamilyTable(6) };
    const v4 =
      kept.reduce((n, rule) => n + (rule.family === 4 ? 1 : 0), 0) + added.filter((r) => r.family === 4).length;
    tables[4].reserve(v4, true);
    tables[6].reserve(kept.length + added.length - v4, true);
    for (const rules of [kept, added])
      for (let i = 0; i < rules.length; i++) tables[rules[i]!.family].append(rules[i]!);
    this.tables = tables;
    this.held = kept.length + added.length;
    this.changed = { 4: new Set(), 6: new Set() };
    this.compiledOnce = false;
  }

  /**
   * The entries and sets the changes since the last compile need, and marks them as in the
   * kernel. Keys under a changed prefix are rewritten too (they inherit its clauses).
   */
  compileChange(): CompiledChange {
    if (!this.compiledOnce) throw new Error('compileChange: nothing is installed yet; compileAll first');
    const entries: EntryChange[] = [];
    for (const family of [4, 6] as const) {
      const table = this.tables[family];
      const affected = withCoveredSlots(table, this.changed[family]);
      const writers = this.writers(table, 0, 0, 0);
      const slots = Uint32Array.from(withCoveringSlots(table, affected));
      sweep(
        this.sweepState(table),
        table,
        sweepKeys(table, slots, new Scratch(Scratch.bytesFor(table, slots.length))),
        affected,
        writers,
        (map, scope, len, key, value) => {
          entries.push({ map, scope, rank: len, key, value });
        },
      );
      this.changed[family] = new Set();
    }
    const made = this.sets.settle();
    const values = Buffer.alloc(made.length * SET_BYTES);
    this.sets.write(made, values, this.littleEndian);
    const ids = Buffer.alloc(made.length * 4);
    made.forEach((id, i) => writeU32(ids, i * 4, id, this.littleEndian));
    const buckets = this.v6.takeChanges(this.littleEndian);
    return {
      sets: { ids, values },
      entries,
      buckets,
      counts: this.entryCounts(),
      setSpan: this.sets.span,
      warnings: this.warnings(),
    };
  }

  /**
   * Everything, for fresh maps: a new set table, every key compiled, every entry in the images.
   * `onImage` hears of each entry map's image while it is compiled (growing images, every
   * PROGRESS_KEYS keys of the sweep) and once it is complete, and of the v6 buckets' image once
   * the v6 keys are compiled, so the kernel can be filling them meanwhile; the sets come at the end.
   */
  compileAll(
    defaults: KernelDefaults,
    onImage?: (map: EntryMap | 'v6Buckets', image: GrowingImage) => void,
  ): CompiledRules {
    validateDefaults(defaults);
    this.sets = new SetTable();
    this.changed = { 4: new Set(), 6: new Set() };
    this.compiledOnce = true;
    for (const map of ENTRY_MAPS) this.counts[map] = 0;
    this.v6 = new V6Buckets(chooseV6Split(this.tables[6].perLength.values()), false, true);
    const images = {} as Record<EntryMap, MapImage>;
    const scratch = new Scratch(
      Math.max(
        Scratch.bytesFor(this.tables[4], this.tables[4].size),
        Scratch.bytesFor(this.tables[6], this.tables[6].size),
      ),
    );
    for (const family of [4, 6] as const) {
      const table = this.tables[family];
      const split = this.splitOf(table);
      scratch.reset();
      const live = scratch.u32(table.size);
      let count = 0;
      for (let slot = 0; slot < table.size; slot++) {
        if (table.ruleCounts[slot]! > 0) {
          table.installed[slot] = 0;
          table.setIds[slot] = -1;
          live[count++] = slot;
        } else if (table.rules[slot] !== undefined) table.release(slot); // emptied by an earlier change
      }
      const keys = sweepKeys(table, live.subarray(0, count), scratch);
      // Entries per map, known before the walk so that the maps can fill while it runs.
      let n = 0;
      let exact = 0;
      let hashed = 0;
      for (let k = 0; k < keys.n; k++) {
        if (keys.repeats !== null && keys.repeats[k] === 1) continue;
        n++;
        if (keys.lens[k] === table.fullLen) exact++;
        else if (keys.lens[k]! >= split) hashed++;
      }
      const writers = this.writers(table, exact, n - exact - hashed, hashed);
      if (table.family === 6) this.v6.reserve(hashed);
      // Every key gets an entry: the writers end with exactly these counts.
      const planned: Record<EntryMap, number> = {
        v4Exact: exact,
        v6Exact: exact,
        v4Lpm: n - exact - hashed,
        v6Lpm: n - exact - hashed,
        v6Prefix: hashed,
      };
      const totals: Array<[EntryMap, EntryWriter, number]> = [];
      for (const map of ENTRY_MAPS) if (writers[map]) totals.push([map, writers[map], planned[map]]);
      const progress =
        onImage &&
        (() => {
          for (const [map, writer, total] of totals) {
            const image = writer.growingImage(total);
            if (image && image.ready! < total) onImage(map, image);
          }
        });
      sweep(this.sweepState(table), table, keys, null, writers, () => undefined, progress);
      for (const [map, writer] of totals) {
        images[map] = writer.image();
        onImage?.(map, images[map]);
      }
    }
    const buckets = this.v6.image(this.littleEndian);
    onImage?.('v6Buckets', buckets);
    this.sets.settle();
    this.v6.track();

    const le = this.littleEndian;
    this.scopesInKernel = this.scopesWithRules();
    this.scopeAdded = false;
    const apps = new Set([...defaults.perApp.keys(), ...this.scopesInKernel]);
    apps.delete(0);
    const appKeys = Buffer.alloc(apps.size * 4);
    const appValues = Buffer.alloc(apps.size);
    let a = 0;
    for (const appId of apps) {
      writeU32(appKeys, a * 4, appId, le);
      appValues[a] = appInfo(defaults.perApp.get(appId), this.scopesInKernel.has(appId));
      a++;
    }
    return {
      v4Exact: images.v4Exact,
      v6Exact: images.v6Exact,
      v4Lpm: images.v4Lpm,
      v6Lpm: images.v6Lpm,
      v6Prefix: images.v6Prefix!,
      v6Buckets: buckets,
      v6Split: this.v6.split,
      sets: this.sets.image(le),
      appDefaults: { count: a, keys: appKeys, values: appValues },
      globalDefault: DEFAULT_CODE[defaults.global],
      warnings: this.warnings(),
    };
  }

  /** The scopes (apps; 0 is everyone's) that some rule held is in. */
  private scopesWithRules(): Set<number> {
    const scopes = new Set<number>();
    for (const table of [this.tables[4], this.tables[6]])
      for (let slot = 0; slot < table.size; slot++) if (table.ruleCounts[slot]! > 0) scopes.add(table.scopes[slot]!);
    return scopes;
  }

  private warnings(): string[] {
    return [...this.sets.overflowing].map(
      (id) =>
        `clause set ${id}: more than ${MAX_CLAUSES} rules cover one address in one scope; the least specific ones are ignored there`,
    );
  }

  private writers(
    table: FamilyTable,
    exactCapacity: number,
    lpmCapacity: number,
    prefixCapacity: number,
  ): Writers & Partial<Record<EntryMap, EntryWriter>> {
    const le = this.littleEndian;
    if (table.family === 4) {
      const exact = new EntryWriter('v4Exact', exactCapacity, le);
      const lpm = new EntryWriter('v4Lpm', lpmCapacity, le);
      return { exact, lpm, prefix: lpm, v4Exact: exact, v4Lpm: lpm };
    }
    const exact = new EntryWriter('v6Exact', exactCapacity, le);
    const lpm = new EntryWriter('v6Lpm', lpmCapacity, le);
    const prefix = new EntryWriter('v6Prefix', prefixCapacity, le);
    return { exact, lpm, prefix, v6Exact: exact, v6Lpm: lpm, v6Prefix: prefix };
  }

  /** Prefixes this long or longer (and not full length) go in the prefix hash: v6 only. */
  private splitOf(table: FamilyTable): number {
    return table.family === 6 ? this.v6.split : table.fullLen + 1;
  }

  private sweepState(table: FamilyTable): SweepState {
    return {
      sets: this.sets,
      buckets: this.v6,
      split: this.splitOf(table),
      littleEndian: this.littleEndian,
      counts: this.counts,
    };
  }
}

function notHeld(removed: readonly CompilableRule[], index: number): never {
  throw new RangeError(`removed[${index}] (ruleId ${String(removed[index]?.ruleId)}): not among the compiled rules`);
}

/** Compiles a whole ruleset at once (a fresh compiler's compileAll). */
export function compileRules(rules: CompilableRule[], defaults: KernelDefaults, littleEndian = HOST_LE): CompiledRules {
  validateDefaults(defaults);
  const compiler = new RuleCompiler(littleEndian);
  compiler.update([], rules, 'rules');
  return compiler.compileAll(defaults);
}
