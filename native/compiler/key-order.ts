// The order a sweep walks keys in (scope, address, prefix length: a prefix comes right before the
// keys it covers), and the columns it reads, copied into that order.
import type { FamilyTable } from './key-table.js';

const RADIX_SORT_MIN = 2048;

/** Runs of at most this many keys are put in order by insertion (no call, no view object). */
const INSERTION_RUN = 16;

/**
 * Bump allocation of the typed arrays a sweep needs, from one buffer that a full compile reuses
 * for both families: allocated one by one, per column and family, their tens of megabytes of
 * outside memory brought a full collection (a quarter second with a million rules held) into
 * every full compile. Asked for more than it holds, it falls back to fresh arrays.
 */
export class Scratch {
  private buffer: ArrayBuffer;
  private used = 0;

  constructor(bytes: number) {
    this.buffer = new ArrayBuffer(bytes);
  }

  /** Bytes a sweep of `n` of `table`'s keys takes, plus `n` u32s more (see sweepKeys and sortSlots). */
  static bytesFor(table: FamilyTable, n: number): number {
    const radix = n < RADIX_SORT_MIN ? 0 : 4 * (n + 65537) + 2 * n;
    return radix + 4 * n * (7 + table.wordCount) + 2 * n + 32;
  }

  /** Hands everything out again (what was handed out before must no longer be used). */
  reset(): void {
    this.used = 0;
  }

  u32(n: number): Uint32Array {
    if (this.used + n * 4 > this.buffer.byteLength) return new Uint32Array(n);
    const out = new Uint32Array(this.buffer, this.used, n);
    this.used += n * 4;
    return out;
  }

  u16(n: number): Uint16Array {
    if (this.used + n * 2 > this.buffer.byteLength) return new Uint16Array(n);
    const out = new Uint16Array(this.buffer, this.used, n);
    this.used += (n * 2 + 3) & ~3;
    return out;
  }

  u8(n: number): Uint8Array {
    if (this.used + n > this.buffer.byteLength) return new Uint8Array(n);
    const out = new Uint8Array(this.buffer, this.used, n);
    this.used += (n + 3) & ~3;
    return out;
  }
}

/**
 * Permutes a typed array into the given order (one random-access pass, then sequential use). One
 * function per element type: a shared generic one turned megamorphic and cost more than the sweep.
 */
function gatherU32(source: Uint32Array, order: Uint32Array, n: number, stride: number, scratch: Scratch): Uint32Array {
  const out = scratch.u32(n * stride);
  if (stride === 1) {
    for (let k = 0; k < n; k++) out[k] = source[order[k]!]!;
    return out;
  }
  for (let k = 0; k < n; k++) {
    const from = order[k]! * stride;
    for (let s = 0; s < stride; s++) out[k * stride + s] = source[from + s]!;
  }
  return out;
}

function gatherU8(source: Uint8Array, order: Uint32Array, n: number, scratch: Scratch): Uint8Array {
  const out = scratch.u8(n);
  for (let k = 0; k < n; k++) out[k] = source[order[k]!]!;
  return out;
}

/**
 * The given slots of `table` ordered by (scope, address words, prefix length). Most significant
 * 16-bit digit first: one pass splits the keys into runs by their leading digit that is not the
 * same for all, then each run is ordered on its own, by the next digit when it is long, else by
 * comparing keys. The first pass reads the columns in slot order; a key is then read again only
 * inside its (mostly tiny) run. Least significant digit first, as this was, read every key's
 * columns at random once per pass, five passes or more: a quarter of a 1M compile.
 */
function sortSlots(table: FamilyTable, slots: Uint32Array, scratch: Scratch): Uint32Array {
  const n = slots.length;
  const wordCount = table.wordCount;
  const { words, scopes, lens } = table;
  const compare = (a: number, b: number): number => {
    if (scopes[a] !== scopes[b]) return scopes[a]! - scopes[b]!;
    for (let w = 0; w < wordCount; w++)
      if (words[a * wordCount + w] !== words[b * wordCount + w])
        return words[a * wordCount + w]! - words[b * wordCount + w]!;
    return lens[a]! - lens[b]!;
  };
  let order = scratch.u32(n);
  order.set(slots);
  // A few keys (a change): a comparator sort; a radix pass costs ~65k buckets whatever n is.
  if (n < RADIX_SORT_MIN) return order.sort(compare);
  let spare = scratch.u32(n);
  const counts = scratch.u32(65537);
  const digits = scratch.u16(n); // digits[k]: the digit of order[k] in the current pass
  // Digits, most significant first: scope (high, low half), each address word's halves, the length.
  const lengthDigit = 2 + 2 * wordCount;
  const digitOf = (slot: number, d: number): number => {
    if (d === lengthDigit) return lens[slot]!;
    const word = d < 2 ? scopes[slot]! : words[slot * wordCount + ((d - 2) >> 1)]!;
    return d & 1 ? word & 0xffff : word >>> 16;
  };
  const sortRun = (from: number, to: number): void => {
    if (to - from > INSERTION_RUN) {
      order.subarray(from, to).sort(compare);
      return;
    }
    for (let k = from + 1; k < to; k++) {
      const slot = order[k]!;
      let j = k;
      for (; j > from && compare(order[j - 1]!, slot) > 0; j--) order[j] = order[j - 1]!;
      order[j] = slot;
    }
  };
  const runs: number[] = [0, n, 0]; // (from, to, digit) of runs still to be ordered
  while (runs.length > 0) {
    let d = runs.pop()!;
    const to = runs.pop()!;
    const from = runs.pop()!;
    // The first digit on which the run's keys differ (none: every key is the same, a repeat).
    for (; d <= lengthDigit; d++) {
      counts.fill(0);
      for (let k = from; k < to; k++) counts[(digits[k] = digitOf(order[k]!, d)) + 1]!++;
      if (counts[digits[from]! + 1] !== to - from) break;
    }
    if (d > lengthDigit) continue;
    for (let b = 1; b <= 65536; b++) counts[b]! += counts[b - 1]!;
    for (let k = from; k < to; k++) spare[from + counts[digits[k]!]!++] = order[k]!;
    if (from === 0 && to === n) [order, spare] = [spare, order];
    else order.set(spare.subarray(from, to), from);
    // counts[b] is now where run b ends.
    for (let b = 0, start = from; b < 65536 && start < to; b++) {
      const end = from + counts[b]!;
      if (end - start >= RADIX_SORT_MIN) runs.push(start, end, d + 1);
      else if (end - start > 1) sortRun(start, end);
      start = end;
    }
  }
  return order;
}

function sameWords(words: Uint32Array, a: number, b: number, count: number): boolean {
  for (let w = 0; w < count; w++) if (words[a + w] !== words[b + w]) return false;
  return true;
}

/** The keys a sweep walks: the table's columns copied in sweep order, and which places repeat the key before them. */
export interface SweepKeys {
  n: number;
  sorted: Uint32Array;
  words: Uint32Array;
  scopes: Uint32Array;
  lens: Uint8Array;
  ruleCounts: Uint32Array;
  ruleIds: Uint32Array;
  ports: Uint32Array;
  codes: Uint32Array;
  installed: Uint8Array;
  repeats: Uint8Array | null;
}

/**
 * The given slots in sweep order (by scope, address, prefix length), with the columns the walk
 * reads copied in that order: the table's slots are in arrival order, and reading them through
 * the order was a chain of dependent cache misses per key (most of a 1M compile's sweep); a copy
 * loop has no such chain. Keys repeated by a bulk load are merged here (only a full compile finds
 * any: every lookup builds the index, which merges them, and a full compile orders every key).
 */
export function sweepKeys(table: FamilyTable, slots: Uint32Array, scratch: Scratch): SweepKeys {
  const n = slots.length;
  const wc = table.wordCount;
  const sorted = sortSlots(table, slots, scratch);
  const words = gatherU32(table.words, sorted, n, wc, scratch);
  const scopes = gatherU32(table.scopes, sorted, n, 1, scratch);
  const lens = gatherU8(table.lens, sorted, n, scratch);
  const ruleCounts = gatherU32(table.ruleCounts, sorted, n, 1, scratch);
  const ruleIds = gatherU32(table.ruleIds, sorted, n, 1, scratch);
  const ports = gatherU32(table.ports, sorted, n, 1, scratch);
  const codes = gatherU32(table.codes, sorted, n, 1, scratch);
  const installed = gatherU8(table.installed, sorted, n, scratch);
  const repeats = table.mayRepeat ? mergeRepeatedKeys(table, sorted, words, scopes, lens, ruleCounts, n) : null;
  table.mayRepeat = false;
  return { n, sorted, words, scopes, lens, ruleCounts, ruleIds, ports, codes, installed, repeats };
}

/**
 * Merges keys that repeat after a bulk load (neighbours once sorted) into the first of each run,
 * in the table and in the sweep's ruleCounts column; returns the places of the repeats, for the
 * sweep to pass over (null: none).
 */
function mergeRepeatedKeys(
  table: FamilyTable,
  sorted: Uint32Array,
  words: Uint32Array,
  scopes: Uint32Array,
  lens: Uint8Array,
  ruleCounts: Uint32Array,
  n: number,
): Uint8Array | null {
  const wc = table.wordCount;
  let repeats: Uint8Array | null = null;
  for (let k = 1, first = 0; k < n; k++) {
    if (lens[k] !== lens[first] || scopes[k] !== scopes[first] || !sameWords(words, k * wc, first * wc, wc)) {
      first = k;
      continue;
    }
    table.mergeInto(sorted[first]!, sorted[k]!);
    ruleCounts[first] = table.ruleCount(sorted[first]!);
    (repeats ??= new Uint8Array(n))[k] = 1;
  }
  return repeats;
}
