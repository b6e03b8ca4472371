// The one compile step, for a whole ruleset and for a change alike (see sweep): gives each key
// its entry, with its own clauses inline or in a set and the set of what covers it.
import type { EntryMap } from './layout.js';
import * as layout from './layout.js';
import type { SetTable } from './clause-sets.js';
import { wordBuffer, writeEntryKey, type Writers } from './entry-writer.js';
import type { FamilyTable } from './key-table.js';
import type { SweepKeys } from './key-order.js';
import type { Clause } from './types.js';
import type { V6Buckets } from './v6-buckets.js';

const { KEY_BYTES, KEY_LAYOUT, NO_SET } = layout;

/** How often a full compile's sweep reports its growing images (see RuleCompiler.compileAll). */
const PROGRESS_KEYS = 32768;

/** What a sweep reads and updates besides the keys: the compiler's sets, v6 buckets and entry counts. */
export interface SweepState {
  sets: SetTable;
  buckets: V6Buckets;
  /** Prefixes this long or longer (and not full length) go in the prefix hash (v6 only). */
  split: number;
  littleEndian: boolean;
  counts: Record<EntryMap, number>;
}

/**
 * A covering prefix on the sweep's stack. Frames are reused by depth and a prefix's own clause is
 * made only when a key under it needs its set: an object per prefix was garbage by the million.
 */
interface Frame {
  at: number; // index into the sweep's words of the frame's prefix
  len: number;
  k: number; // its place in the sweep's order
  inherited: number; // set of what covers it
  full: number; // set of own + inherited, made when a child first needs it (-1: not yet)
}

/** Does the prefix (words at a, lenA) cover (words at b)? */
function covers(words: Uint32Array, a: number, lenA: number, b: number, wordCount: number): boolean {
  for (let w = 0; w < wordCount; w++) {
    const bits = Math.max(0, Math.min(32, lenA - w * 32));
    if (bits === 0) return true;
    const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    if ((words[b + w]! & mask) >>> 0 !== words[a + w]) return false;
  }
  return true;
}

/**
 * The one compile step, for a whole ruleset and for a change alike: walks the keys in sweep order
 * (key-order.ts: a prefix right before what it covers) with a stack of covering prefixes, and gives every
 * key in `affected` (every key when null) its entry: own clauses (inline when one rule, else in
 * a set of own + inherited, since own prefixes are more specific) and the set of what covers it.
 * Keys without rules get their entry deleted. `emit` hears of each entry written (key and
 * value) or deleted (value null).
 */
export function sweep(
  state: SweepState,
  table: FamilyTable,
  keys: SweepKeys,
  affected: Set<number> | null,
  writers: Writers,
  emit: (map: EntryMap, scope: number, len: number, key: Buffer, value: Buffer | null) => void,
  progress?: () => void,
): void {
  const { n, sorted, words, scopes, lens, ruleCounts, ruleIds, ports, codes, installed, repeats } = keys;
  if (n === 0) return;
  const { sets, buckets, split, littleEndian } = state;
  const wc = table.wordCount;
  const fullLen = table.fullLen;
  const exactMap: EntryMap = table.family === 4 ? 'v4Exact' : 'v6Exact';
  const lpmMap: EntryMap = table.family === 4 ? 'v4Lpm' : 'v6Lpm';

  // Entry count changes, kept in locals (a keyed update of state.counts per key cost as much as the rest of the entry).
  let exactCount = 0;
  let lpmCount = 0;
  let prefixCount = 0;
  const stack: Frame[] = [];
  let depth = 0;
  let stackScope = -1;
  // Ids cross calls as int32 (NO_SET is -1 there): a u32 above 2^31 is boxed in a fresh heap
  // number on every call that is not inlined, a million of them per compile.
  const inheritedFrom = (top: Frame | undefined): number => {
    if (!top) return NO_SET | 0;
    if (top.full < 0) {
      // Only frames of one rule get here (a frame of several has its set from the start).
      const k = top.k;
      const own: Clause = {
        ruleId: ruleIds[k]!,
        portLo: ports[k]! >>> 16,
        portHi: ports[k]! & 0xffff,
        proto: codes[k]! & 0xff,
        dir: (codes[k]! >>> 8) & 0xff,
        action: codes[k]! >>> 16,
      };
      top.full = sets.intern([own, ...sets.clauses(top.inherited)]);
    }
    return top.full | 0;
  };
  for (let k = 0; k < n; k++) {
    if (progress && k % PROGRESS_KEYS === 0 && k > 0) progress();
    if (repeats !== null && repeats[k] === 1) continue; // merged into the key before it
    const slot = sorted[k]!;
    const at = k * wc;
    const len = lens[k]!;
    const scope = scopes[k]!;
    const exact = len === fullLen;
    const hashed = !exact && len >= split;
    const map = exact ? exactMap : hashed ? 'v6Prefix' : lpmMap;
    const writer = exact ? writers.exact : hashed ? writers.prefix : writers.lpm;
    const isAffected = affected === null || affected.has(slot);
    if (scope !== stackScope) {
      depth = 0;
      stackScope = scope;
    }
    const count = ruleCounts[k]!;
    if (count === 0) {
      // Its last rule went: delete the entry, forget the key.
      if (isAffected && installed[k]) {
        const { buffer: key, words: keyWords } = wordBuffer(KEY_BYTES[map]);
        writeEntryKey(keyWords, 0, KEY_LAYOUT[map], scope, words, at, wc, len, littleEndian);
        emit(map, scope, len, key, null);
        sets.release(table.setIds[slot]!);
        if (exact) exactCount--;
        else if (hashed) {
          prefixCount--;
          buckets.change(scope, words, at, len, -1);
        } else lpmCount--;
      }
      if (isAffected) table.release(slot);
      continue;
    }
    while (depth > 0 && !covers(words, stack[depth - 1]!.at, stack[depth - 1]!.len, at, wc)) depth--;
    const inherited = inheritedFrom(depth > 0 ? stack[depth - 1] : undefined) >>> 0;
    // One rule at this prefix: inline in the entry. Several: all in the entry's set.
    const own = count === 1 ? null : table.ownClauses(slot);
    const setId = own ? sets.intern(own.concat(sets.clauses(inherited))) : inherited;
    if (isAffected) {
      if (setId !== NO_SET) sets.use(setId); // (a set id is a small integer, passed unboxed)
      if (installed[k]) sets.release(table.setIds[slot]!);
      else if (exact) exactCount++;
      else if (hashed) {
        prefixCount++;
        buckets.change(scope, words, at, len, 1);
      } else lpmCount++;
      table.installed[slot] = 1;
      table.setIds[slot] = setId === NO_SET ? -1 : setId;
      const index = own
        ? writer.add(scope | 0, words, at, wc, len, 0, 0, 0, setId | 0)
        : writer.add(scope | 0, words, at, wc, len, ruleIds[k]! | 0, ports[k]! | 0, codes[k]!, setId | 0);
      if (affected !== null) emit(map, scope, len, writer.key(index), writer.value(index));
    }
    if (!exact) {
      if (depth === stack.length) stack.push({ at: 0, len: 0, k: 0, inherited: NO_SET, full: -1 });
      const frame = stack[depth++]!;
      frame.at = at;
      frame.len = len;
      frame.k = k;
      frame.inherited = inherited;
      frame.full = own ? setId : -1;
    }
  }
  state.counts[exactMap] += exactCount;
  state.counts[lpmMap] += lpmCount;
  if (prefixCount !== 0) state.counts.v6Prefix += prefixCount;
}
