// The rules of one address family indexed by kernel key (scope, prefix length, masked address),
// and which keys a change of some of them touches.
import type { CompilableRule } from '../api.js';
import * as clauseSets from './clause-sets.js';
import * as layout from './layout.js';
import type { Clause } from './types.js';

// Module-local bindings of what runs per rule or key (an imported name is a getter under tsx).
const { ACTION_CODE, DIRECTION_CODE, MAX_CLAUSES, PROTOCOL_CODE } = layout;
const { compareOwn, toClause } = clauseSets;

/** Rules of a family from which a first load skips the key index (see FamilyTable.append). */
export const BULK_LOAD_MIN = 4096;

/** Address words (big-endian u32s) of a rule, masked to its prefix. */
function maskedWords(rule: CompilableRule, out: Uint32Array, at: number): void {
  const addr = rule.addr;
  if (typeof addr === 'number') {
    const bits = rule.prefixLen;
    out[at] = bits === 0 ? 0 : bits === 32 ? addr : (addr & (~0 << (32 - bits))) >>> 0;
    return;
  }
  const words = rule.family === 4 ? 1 : 4;
  for (let w = 0; w < words; w++) {
    const b = w * 4;
    let word = ((addr[b]! << 24) | (addr[b + 1]! << 16) | (addr[b + 2]! << 8) | addr[b + 3]!) >>> 0;
    const bits = Math.max(0, Math.min(32, rule.prefixLen - w * 32));
    word = bits === 0 ? 0 : bits === 32 ? word : (word & (~0 << (32 - bits))) >>> 0;
    out[at + w] = word;
  }
}

/** A slot's rules once the last one went (shared, never changed). */
const NO_RULES: readonly CompilableRule[] = Object.freeze([]);

/**
 * The keys of one family, one slot per key (family, scope, prefix), in columns: typed arrays
 * keep a million keys cheap to hold and to sweep (objects per key spent most of the time in the
 * garbage collector). A slot's rules: one rule, or an array (empty once its last rule went; the
 * slot is freed when the kernel entry is deleted).
 */
export class FamilyTable {
  readonly wordCount: 1 | 4;
  readonly fullLen: number;
  private capacity = 0;
  size = 0; // slots ever used (high-water mark)
  private readonly free: number[] = [];
  scopes = new Uint32Array(0);
  lens = new Uint8Array(0);
  words = new Uint32Array(0);
  /** The first rule's clause, packed: the inline clause of a key with one rule. */
  ruleIds = new Uint32Array(0);
  ports = new Uint32Array(0); // lo << 16 | hi
  codes = new Uint32Array(0); // proto | dir << 8 | action << 16
  /** The set the kernel entry points at (-1: none), and whether the kernel has the entry. */
  setIds = new Int32Array(0);
  installed = new Uint8Array(0);
  ruleCounts = new Uint32Array(0);
  /** Each slot's key hash (for moving it in the index). */
  private hashes = new Int32Array(0);
  rules: Array<CompilableRule | readonly CompilableRule[] | undefined> = [];
  /**
   * Slot + 1 by key hash, open addressing with linear probing, at most half full: a JS Map of a
   * million keys cost more time (rehashing, the collector) than the rest of a compile. Each
   * bucket is a pair [slot + 1, hash]: a probe passes other keys on its hash, in the cache line it
   * has already read, instead of fetching their keys from the columns (a cache miss each).
   */
  private index = new Int32Array(2 * 1024);
  private indexed = 0;
  /**
   * False after a bulk load (see `append`): the index is built on its first use. A first apply of
   * a million rules then never probes it: hashing each key into it was a cache miss per rule, a
   * quarter of that apply.
   */
  private indexValid = true;
  /** Bulk-loaded keys may repeat (two rules with one key); a full compile's sort or the index build merges them. */
  mayRepeat = false;
  /** Per scope: keys holding rules per prefix length (to look for covering prefixes only where there are some). */
  readonly perLength = new Map<number, Uint32Array>();
  private readonly scratch = new Uint32Array(4);
  /** Where the last `find` that missed stopped: `allocate` right after it places the key there. */
  private missedHash = 0;
  private missedAt = 0;

  constructor(readonly family: 4 | 6) {
    this.wordCount = family === 4 ? 1 : 4;
    this.fullLen = family === 4 ? 32 : 128;
  }

  ruleCount(slot: number): number {
    return this.ruleCounts[slot]!;
  }

  /** The slot of a rule's key, or -1. */
  slotOf(rule: CompilableRule): number {
    const words = this.scratch;
    maskedWords(rule, words, 0);
    return this.find(rule.scope, rule.prefixLen, words, 0);
  }

  /** The slot of the prefix (scope, len, words at `at`), or -1. */
  find(scope: number, len: number, words: Uint32Array, at: number): number {
    if (!this.indexValid) this.buildIndex();
    const index = this.index;
    const mask = (index.length >> 1) - 1;
    const hash = this.hashOf(scope, len, words, at);
    for (let h = hash & mask; ; h = (h + 1) & mask) {
      const entry = index[2 * h]!;
      if (entry === 0) {
        this.missedHash = hash;
        this.missedAt = h;
        return -1;
      }
      if (index[2 * h + 1] === hash && this.isAt(entry - 1, scope, len, words, at)) return entry - 1;
    }
  }

  /** A slot's address cut to its first `len` bits, into `out` (the words of its ancestor at that length). */
  maskTo(slot: number, len: number, out: Uint32Array): void {
    const wc = this.wordCount;
    for (let w = 0; w < wc; w++) {
      const bits = Math.max(0, Math.min(32, len - w * 32));
      const word = this.words[slot * wc + w]!;
      out[w] = bits === 0 ? 0 : bits === 32 ? word : (word & (~0 << (32 - bits))) >>> 0;
    }
  }

  has(rule: CompilableRule): boolean {
    const slot = this.slotOf(rule);
    if (slot < 0) return false;
    const rules = this.rules[slot]!;
    return isList(rules) ? rules.includes(rule) : rules === rule;
  }

  /** Adds a (valid) rule; returns its slot. */
  add(rule: CompilableRule): number {
    let slot = this.slotOf(rule);
    if (slot < 0) slot = this.allocate(rule.scope, rule.prefixLen, this.scratch);
    const rules = this.rules[slot]!;
    if (this.ruleCounts[slot] === 0) {
      this.rules[slot] = rule;
      this.pack(slot, rule);
      this.perLength.get(rule.scope)![rule.prefixLen]!++;
    } else {
      this.rules[slot] = isList(rules) ? [...rules, rule] : [rules, rule];
    }
    this.ruleCounts[slot]!++;
    return slot;
  }

  /** Removes a rule known to be held; returns its slot. */
  remove(rule: CompilableRule): number {
    const slot = this.slotOf(rule);
    const rules = this.rules[slot]!;
    this.ruleCounts[slot]!--;
    if (!isList(rules)) {
      this.rules[slot] = NO_RULES;
      this.perLength.get(rule.scope)![rule.prefixLen]!--;
    } else {
      const rest = rules.filter((r) => r !== rule);
      this.rules[slot] = rest.length === 1 ? rest[0]! : rest;
      if (rest.length === 1) this.pack(slot, rest[0]!);
    }
    return slot;
  }

  /** Forgets a slot whose rules are gone and whose kernel entry is deleted (or was never made). */
  release(slot: number): void {
    if (!this.indexValid) return this.forget(slot); // the index is built from live slots later
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    const index = this.index;
    const mask = (index.length >> 1) - 1;
    let hole = this.hashes[slot]! & mask;
    while (index[2 * hole] !== slot + 1) hole = (hole + 1) & mask;
    index[2 * hole] = 0;
    for (let next = (hole + 1) & mask; index[2 * next] !== 0; next = (next + 1) & mask) {
      const home = index[2 * next + 1]! & mask;
      // Move the entry into the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!stays) {
        index[2 * hole] = index[2 * next]!;
        index[2 * hole + 1] = index[2 * next + 1]!;
        index[2 * next] = 0;
        hole = next;
      }
    }
    this.indexed--;
    this.forget(slot);
  }

  /** Frees a slot that is not (or no longer) in the index. */
  private forget(slot: number): void {
    this.rules[slot] = undefined;
    this.installed[slot] = 0;
    this.setIds[slot] = -1;
    this.ruleCounts[slot] = 0;
    this.free.push(slot);
  }

  /** Is the table empty or bulk-loaded since its last index build (so `append` may add to it)? */
  get bulkLoadable(): boolean {
    return !this.indexValid || this.indexed === 0;
  }

  /**
   * Adds a (valid) rule in a slot of its own, without looking for its key: for loading many rules
   * into an empty table. Until the index is next built, keys may repeat (see mergeInto).
   */
  append(rule: CompilableRule): void {
    this.indexValid = false;
    this.mayRepeat = true;
    const words = this.scratch;
    maskedWords(rule, words, 0);
    const slot = this.claim(rule.scope, rule.prefixLen, words);
    this.rules[slot] = rule;
    this.pack(slot, rule);
    this.ruleCounts[slot] = 1;
    this.perLength.get(rule.scope)![rule.prefixLen]!++;
  }

  /** Moves the rules of `from` (a repeat of `into`'s key, not in the index) into `into` and frees `from`. */
  mergeInto(into: number, from: number): void {
    const a = this.rules[into]!;
    const b = this.rules[from]!;
    this.rules[into] = [...(isList(a) ? a : [a]), ...(isList(b) ? b : [b])];
    this.ruleCounts[into]! += this.ruleCounts[from]!;
    this.perLength.get(this.scopes[from]!)![this.lens[from]!]!--;
    this.forget(from);
  }

  /** The index of every slot holding rules, repeated keys merged (after a bulk load). */
  private buildIndex(): void {
    this.indexValid = true;
    let live = 0;
    for (let slot = 0; slot < this.size; slot++) if (this.rules[slot] !== undefined) live++;
    let buckets = 1024;
    while (live * 2 > buckets) buckets *= 2;
    this.index = new Int32Array(2 * buckets);
    this.indexed = 0;
    const wc = this.wordCount;
    for (let slot = 0; slot < this.size; slot++) {
      if (this.rules[slot] === undefined) continue;
      const found = this.mayRepeat ? this.find(this.scopes[slot]!, this.lens[slot]!, this.words, slot * wc) : -1;
      if (found >= 0) {
        this.mergeInto(found, slot);
        continue;
      }
      this.hashes[slot] = this.hashOf(this.scopes[slot]!, this.lens[slot]!, this.words, slot * wc);
      this.place(slot);
      this.indexed++;
    }
    this.mayRepeat = false;
  }

  /** The clauses of a slot with several rules, most specific first (only the first MAX_CLAUSES + 1 can matter). */
  ownClauses(slot: number): Clause[] {
    return [...(this.rules[slot] as CompilableRule[])]
      .sort(compareOwn)
      .slice(0, MAX_CLAUSES + 1)
      .map(toClause);
  }

  private hashOf(scope: number, len: number, words: Uint32Array, at: number): number {
    let h = Math.imul(scope ^ (len << 24) ^ 0x811c9dc5, 0x01000193);
    for (let w = 0; w < this.wordCount; w++) h = Math.imul(h ^ words[at + w]! ^ (h >>> 15), 0x5bd1e995);
    return h ^ (h >>> 13);
  }

  private isAt(slot: number, scope: number, len: number, words: Uint32Array, at: number): boolean {
    if (this.lens[slot] !== len || this.scopes[slot] !== scope) return false;
    const base = slot * this.wordCount;
    for (let w = 0; w < this.wordCount; w++) if (this.words[base + w] !== words[at + w]) return false;
    return true;
  }

  private pack(slot: number, rule: CompilableRule): void {
    this.ruleIds[slot] = rule.ruleId;
    this.ports[slot] = ((rule.portLo << 16) | rule.portHi) >>> 0;
    this.codes[slot] =
      PROTOCOL_CODE[rule.protocol] | (DIRECTION_CODE[rule.direction] << 8) | (ACTION_CODE[rule.action] << 16);
  }

  /**
   * Makes room for `keys` more keys at once: one widening of the columns and one rehash of the
   * index, not a cascade of doublings (each a copy, each a collection) while a million come in.
   */
  reserve(keys: number, bulk = false): void {
    const slots = this.size + Math.max(0, keys - this.free.length);
    if (slots > this.capacity) this.grow(slots);
    if (bulk || !this.indexValid) return; // the index is sized when built
    const buckets = this.index.length >> 1;
    let wanted = buckets;
    while ((this.indexed + keys) * 2 > wanted) wanted *= 2;
    if (wanted > buckets) this.rehash(wanted);
  }

  /** A slot for a new key; only straight after a `find` of that key missed (it places the key where that stopped). */
  private allocate(scope: number, len: number, words: Uint32Array): number {
    const slot = this.claim(scope, len, words);
    this.hashes[slot] = this.missedHash;
    if (++this.indexed * 2 > this.index.length >> 1) {
      this.rehash(this.index.length);
      this.place(slot);
    } else {
      // No second hash and probe.
      this.index[2 * this.missedAt] = slot + 1;
      this.index[2 * this.missedAt + 1] = this.missedHash;
    }
    return slot;
  }

  /** A free slot holding the key (scope, len, words), no rules yet and not in the index. */
  private claim(scope: number, len: number, words: Uint32Array): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.size === this.capacity) this.grow(this.capacity * 2);
      slot = this.size++;
    }
    this.scopes[slot] = scope;
    this.lens[slot] = len;
    // A loop, not words.subarray(): a view object per key is a million objects for the collector.
    for (let w = 0; w < this.wordCount; w++) this.words[slot * this.wordCount + w] = words[w]!;
    this.setIds[slot] = -1;
    this.installed[slot] = 0;
    this.ruleCounts[slot] = 0;
    this.rules[slot] = NO_RULES;
    if (!this.perLength.has(scope)) this.perLength.set(scope, new Uint32Array(129));
    return slot;
  }

  private place(slot: number): void {
    const mask = (this.index.length >> 1) - 1;
    const hash = this.hashes[slot]!;
    let h = hash & mask;
    while (this.index[2 * h] !== 0) h = (h + 1) & mask;
    this.index[2 * h] = slot + 1;
    this.index[2 * h + 1] = hash;
  }

  private rehash(buckets: number): void {
    const old = this.index;
    this.index = new Int32Array(2 * buckets);
    for (let b = 0; b < old.length; b += 2) if (old[b] !== 0) this.place(old[b]! - 1);
  }

  private grow(atLeast: number): void {
    const capacity = Math.max(1024, atLeast);
    const widen = <T extends Uint32Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T, stride = 1): T => {
      const next = make(capacity * stride);
      next.set(old as never);
      return next;
    };
    this.scopes = widen(this.scopes, (n) => new Uint32Array(n));
    this.lens = widen(this.lens, (n) => new Uint8Array(n));
    this.words = widen(this.words, (n) => new Uint32Array(n), this.wordCount);
    this.ruleIds = widen(this.ruleIds, (n) => new Uint32Array(n));
    this.ports = widen(this.ports, (n) => new Uint32Array(n));
    this.codes = widen(this.codes, (n) => new Uint32Array(n));
    this.setIds = widen(this.setIds, (n) => new Int32Array(n));
    this.installed = widen(this.installed, (n) => new Uint8Array(n));
    this.ruleCounts = widen(this.ruleCounts, (n) => new Uint32Array(n));
    this.hashes = widen(this.hashes, (n) => new Int32Array(n));
    // The rules column too, at its full size at once: pushing a million regrew it by copies, tens
    // of megabytes of large-object garbage that brought on a full collection.
    const rules = new Array<CompilableRule | readonly CompilableRule[] | undefined>(capacity).fill(undefined);
    for (let slot = 0; slot < this.rules.length; slot++) rules[slot] = this.rules[slot];
    this.rules = rules;
    this.capacity = capacity;
  }
}

export function isList(rules: CompilableRule | readonly CompilableRule[]): rules is readonly CompilableRule[] {
  return Array.isArray(rules);
}

/**
 * `changed` plus every key under a changed prefix (they inherit its clauses). Finding them walks
 * the family's keys once per change, and only when a prefix changed and its scope holds longer
 * prefixes: adding or removing addresses (full-length keys) never does. Each key is checked by
 * looking up its own ancestors at the changed prefixes' lengths (a few hash probes), not by
 * comparing it with every changed prefix: a chunk of thousands of CIDRs would make that
 * chunk x keys, quadratic over an import.
 */
export function withCoveredSlots(table: FamilyTable, changed: Set<number>): Set<number> {
  const affected = new Set(changed);
  const byScope = new Map<number, Set<number>>();
  for (const slot of changed) {
    if (table.lens[slot] === table.fullLen) continue;
    const scope = table.scopes[slot]!;
    let prefixes = byScope.get(scope);
    if (!prefixes) byScope.set(scope, (prefixes = new Set()));
    prefixes.add(slot);
  }
  const ancestor = new Uint32Array(4);
  for (const [scope, prefixes] of byScope) {
    const perLength = table.perLength.get(scope)!;
    const lengths = [...new Set([...prefixes].map((slot) => table.lens[slot]!))].sort((a, b) => a - b);
    const shortest = lengths[0]!;
    let longer = 0;
    for (let len = shortest + 1; len <= table.fullLen; len++) longer += perLength[len]!;
    if (longer === 0) continue;
    for (let slot = 0; slot < table.size; slot++) {
      const len = table.lens[slot]!;
      if (len <= shortest || table.scopes[slot] !== scope || table.rules[slot] === undefined || affected.has(slot))
        continue;
      for (const prefixLen of lengths) {
        if (prefixLen >= len) break;
        table.maskTo(slot, prefixLen, ancestor);
        if (prefixes.has(table.find(scope, prefixLen, ancestor, 0))) {
          affected.add(slot);
          break;
        }
      }
    }
  }
  return affected;
}

/** `affected` plus the prefixes covering them: the sweep needs them to know what is inherited. */
export function withCoveringSlots(table: FamilyTable, affected: Set<number>): number[] {
  const out = new Set(affected);
  const masked = new Uint32Array(4);
  for (const slot of affected) {
    const scope = table.scopes[slot]!;
    const perLength = table.perLength.get(scope)!;
    for (let len = table.lens[slot]! - 1; len >= 0; len--) {
      if (perLength[len] === 0) continue;
      table.maskTo(slot, len, masked);
      const ancestor = table.find(scope, len, masked, 0);
      if (ancestor >= 0 && table.ruleCount(ancestor) > 0) out.add(ancestor);
    }
  }
  return [...out];
}
