// Compiles KernelRule[] into the byte layout of bpf/portcullis.h: exact-address hashes, LPM
// tries, the v6 prefix hash and its buckets (v6-buckets.ts), and deduplicated clause sets. Pure (no I/O), so the precedence logic is unit-tested
// without a kernel. See portcullis.h for precedence and for how the kernel reads these maps.
//
// One compiler serves both ways of applying rules. It keeps the rules indexed by kernel key
// (family, scope, prefix) and refcounted clause sets whose ids are the kernel's array slots, so
// a change of some rules recompiles only the keys it affects (the changed keys, and every key
// under a changed prefix, since they inherit its clauses) into entry upserts and deletes; a full
// compile (for a swap) is the same sweep with every key affected and a fresh set table. A first
// load skips the key index (its keys are merged in the full compile's sorted walk, the index is
// built when a change first needs it): that apply is the one a user waits for at start.
import type { KernelAction, KernelDefaults, KernelDirection, KernelProtocol, KernelRule } from './api.js';
import * as byteOrder from './byte-order.js';
import { chooseV6Split, V6_SPLIT_MAX, V6Buckets, type BucketChange } from './v6-buckets.js';

export { BUCKET_BYTES, BUCKET_KEY_BYTES, chooseV6Split, V6_SPLIT_MAX, type BucketChange } from './v6-buckets.js';

// Module-local bindings: the per-entry code reads these a million times per compile, and a loader
// that compiles ES modules (tsx, as tests and benchmarks run) makes each imported name a getter.
const { HOST_LE, swap32, writeU32 } = byteOrder;

export const MAX_CLAUSES = 16;
export const CLAUSE_BYTES = 12;
export const SET_BYTES = 8 + MAX_CLAUSES * CLAUSE_BYTES;
export const ENTRY_BYTES = 16;
export const NO_SET = 0xffffffff;

export const ACTION_CODE: Record<KernelAction, number> = { allow: 1, block: 2 };
export const PROTOCOL_CODE: Record<KernelProtocol, number> = { any: 0, icmp: 1, tcp: 6, udp: 17 };
export const DIRECTION_CODE: Record<KernelDirection, number> = { out: 1, in: 2, both: 3 };

/** One inner map's contents: `count` keys and values, packed. */
export interface MapImage {
  count: number;
  keys: Buffer;
  values: Buffer;
}

/**
 * An image while it is being compiled: the buffers it will have, of which only the first `ready`
 * entries are final (the rest are still being written). Absent `ready`: complete.
 */
export type GrowingImage = MapImage & { ready?: number };

export interface CompiledRules {
  v4Exact: MapImage;
  v6Exact: MapImage;
  v4Lpm: MapImage;
  /** v6 prefixes shorter than v6Split. */
  v6Lpm: MapImage;
  /** v6 prefixes of v6Split..127 bits, keyed (scope, length, masked address). */
  v6Prefix: MapImage;
  /** Per (scope, first v6Split bits of the address): the lengths present in v6Prefix. */
  v6Buckets: MapImage;
  /** pcl_config.v6_split for the slot these maps go in (see chooseV6Split). */
  v6Split: number;
  /** Array map: keys are the indexes 0..count-1 (keys buffer left empty). */
  sets: MapImage;
  appDefaults: MapImage;
  /** ACTION_CODE of the global default. */
  globalDefault: number;
  /** Things the kernel cannot express exactly (too many clauses covering one address). */
  warnings: string[];
}

interface Clause {
  ruleId: number;
  portLo: number;
  portHi: number;
  proto: number;
  dir: number;
  action: number;
}

/** Precedence within one prefix: narrower port range, specific protocol, block, lower id. */
function compareOwn(a: KernelRule, b: KernelRule): number {
  return (
    a.portHi - a.portLo - (b.portHi - b.portLo) ||
    Number(a.protocol === 'any') - Number(b.protocol === 'any') ||
    ACTION_CODE[b.action] - ACTION_CODE[a.action] ||
    a.ruleId - b.ruleId
  );
}

function invalid(rule: KernelRule, list: string, index: number, why: string): never {
  throw new RangeError(`${list}[${index}] (ruleId ${String(rule.ruleId)}): ${why}`);
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Throws on input the helper should never produce: says which rule and what is wrong. */
export function validateRule(rule: KernelRule, index: number, list = 'rules'): void {
  if (!Number.isInteger(rule.ruleId) || rule.ruleId <= 0 || rule.ruleId > 0xffffffff) invalid(rule, list, index, 'ruleId must be a u32 > 0');
  if (!Number.isInteger(rule.scope) || rule.scope < 0 || rule.scope > 0xffffffff) invalid(rule, list, index, 'scope must be a u32');
  if (rule.family !== 4 && rule.family !== 6) invalid(rule, list, index, `family must be 4 or 6, not ${String(rule.family)}`);
  const bytes = rule.family === 4 ? 4 : 16;
  if (!(rule.addr instanceof Uint8Array) || rule.addr.length !== bytes) invalid(rule, list, index, `addr must be ${bytes} bytes for IPv${rule.family}`);
  if (!Number.isInteger(rule.prefixLen) || rule.prefixLen < 0 || rule.prefixLen > bytes * 8) invalid(rule, list, index, `prefixLen must be 0..${bytes * 8}`);
  if (rule.family === 6 && rule.prefixLen >= 96 && isMapped(rule.addr)) invalid(rule, list, index, 'an IPv4-mapped IPv6 address must be given as family 4');
  if (!isPort(rule.portLo) || !isPort(rule.portHi) || rule.portLo > rule.portHi) invalid(rule, list, index, 'ports must satisfy 0 <= portLo <= portHi <= 65535');
  if (!PROTOCOLS.has(rule.protocol)) invalid(rule, list, index, `unknown protocol ${String(rule.protocol)}`);
  if (!DIRECTIONS.has(rule.direction)) invalid(rule, list, index, `unknown direction ${String(rule.direction)}`);
  if (!ACTIONS.has(rule.action)) invalid(rule, list, index, `unknown action ${String(rule.action)}`);
}

/** Each table's own names, not ones every object inherits (like 'toString'); set lookups are cheaper than Object.hasOwn on a 1M load. */
const PROTOCOLS: ReadonlySet<unknown> = new Set(Object.keys(PROTOCOL_CODE));
const DIRECTIONS: ReadonlySet<unknown> = new Set(Object.keys(DIRECTION_CODE));
const ACTIONS: ReadonlySet<unknown> = new Set(Object.keys(ACTION_CODE));

function isMapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** Address words (big-endian u32s) of a rule, masked to its prefix. */
function maskedWords(rule: KernelRule, out: Uint32Array, at: number): void {
  const words = rule.family === 4 ? 1 : 4;
  for (let w = 0; w < words; w++) {
    const b = w * 4;
    let word = ((rule.addr[b]! << 24) | (rule.addr[b + 1]! << 16) | (rule.addr[b + 2]! << 8) | rule.addr[b + 3]!) >>> 0;
    const bits = Math.max(0, Math.min(32, rule.prefixLen - w * 32));
    word = bits === 0 ? 0 : bits === 32 ? word : (word & (~0 << (32 - bits))) >>> 0;
    out[at + w] = word;
  }
}

/**
 * Clause sets, deduplicated by content, with ids that are slots of the kernel's set array.
 * Content is identified by a 52-bit hash (checked clause by clause on a hit): strings of every
 * set's clauses made a 1M-rule compile spend most of its time collecting garbage. Each set counts
 * the entries using it; one no entry uses is freed once a change is complete, and its slot is
 * handed out again only by a later change, when no kernel entry can still point at it.
 */
class SetTable {
  private readonly sets: Array<Clause[] | undefined> = [];
  private readonly hashes: number[] = [];
  private readonly refs: number[] = [];
  private readonly byHash = new Map<number, number | number[]>();
  private readonly free: number[] = [];
  private freedNow: number[] = [];
  /** Sets made since the last `settle` (their content must reach the kernel). */
  private made: number[] = [];
  /** Sets whose count dropped to zero since the last `settle`. */
  private dropped: number[] = [];
  readonly overflowing = new Set<number>();

  /** One past the highest id in use (the kernel array must hold this many). */
  get span(): number {
    return this.sets.length;
  }

  clauses(id: number): Clause[] {
    return id === NO_SET ? [] : this.sets[id]!;
  }

  /** The set holding `clauses` (most specific first), or NO_SET when there are none. */
  intern(clauses: Clause[]): number {
    if (clauses.length === 0) return NO_SET;
    const kept = clauses.length > MAX_CLAUSES ? clauses.slice(0, MAX_CLAUSES) : clauses;
    const hash = hashClauses(kept);
    const found = this.byHash.get(hash);
    if (typeof found === 'number') {
      if (sameClauses(this.sets[found]!, kept)) return found;
    } else if (found !== undefined) {
      for (let i = 0; i < found.length; i++) if (sameClauses(this.sets[found[i]!]!, kept)) return found[i]!;
    }
    const id = this.free.pop() ?? this.sets.length;
    if (clauses.length > MAX_CLAUSES) this.overflowing.add(id);
    this.sets[id] = kept;
    this.hashes[id] = hash;
    this.refs[id] = 0;
    if (found === undefined) this.byHash.set(hash, id);
    else this.byHash.set(hash, typeof found === 'number' ? [found, id] : [...found, id]);
    this.made.push(id);
    return id;
  }

  use(id: number): void {
    if (id !== NO_SET) this.refs[id]!++;
  }

  release(id: number): void {
    if (id < 0 || id === NO_SET) return;
    if (--this.refs[id]! === 0) this.dropped.push(id);
  }

  /**
   * Ends a change: frees sets nothing uses any more, and returns the sets made in it that are in
   * use (to be written before the entries that point at them). Slots freed by the previous change
   * become available now.
   */
  settle(): number[] {
    this.free.push(...this.freedNow);
    this.freedNow = [];
    const made = this.made.filter((id) => this.refs[id]! > 0);
    for (const id of [...this.dropped, ...this.made]) {
      if (this.sets[id] === undefined || this.refs[id]! > 0) continue;
      const hash = this.hashes[id]!;
      const found = this.byHash.get(hash);
      if (found === id) this.byHash.delete(hash);
      else if (Array.isArray(found)) {
        const rest = found.filter((other) => other !== id);
        this.byHash.set(hash, rest.length === 1 ? rest[0]! : rest);
      }
      this.sets[id] = undefined;
      this.overflowing.delete(id);
      this.freedNow.push(id);
    }
    this.made = [];
    this.dropped = [];
    return made;
  }

  /** The kernel's bytes for these set ids. */
  write(ids: readonly number[], values: Buffer, littleEndian: boolean): void {
    const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
    ids.forEach((id, slot) => {
      const base = slot * SET_BYTES;
      const clauses = this.sets[id] ?? [];
      view.setUint32(base, clauses.length, littleEndian);
      clauses.forEach((c, i) => {
        const at = base + 8 + i * CLAUSE_BYTES;
        view.setUint32(at, c.ruleId, littleEndian);
        view.setUint16(at + 4, c.portLo, littleEndian);
        view.setUint16(at + 6, c.portHi, littleEndian);
        view.setUint8(at + 8, c.proto);
        view.setUint8(at + 9, c.dir);
        view.setUint8(at + 10, c.action);
      });
    });
  }

  /** The whole array (slot = id; free slots are empty sets). */
  image(littleEndian: boolean): MapImage {
    const values = Buffer.alloc(this.sets.length * SET_BYTES);
    this.write(Array.from({ length: this.sets.length }, (_, id) => id), values, littleEndian);
    return { count: this.sets.length, keys: Buffer.alloc(0), values };
  }
}

function hashClauses(clauses: Clause[]): number {
  let hi = 0x811c9dc5;
  let lo = 0x01000193;
  for (let i = 0; i < clauses.length; i++) {
    const c = clauses[i]!;
    // Three words per clause, mixed alike.
    for (let part = 0; part < 3; part++) {
      const value = part === 0 ? c.ruleId : part === 1 ? (c.portLo << 16) | c.portHi : c.proto | (c.dir << 8) | (c.action << 16);
      hi = Math.imul(hi ^ value, 0x01000193) >>> 0;
      lo = Math.imul(lo ^ value ^ (hi >>> 15), 0x5bd1e995) >>> 0;
    }
  }
  return (hi & 0xfffff) * 2 ** 32 + lo;
}

function sameClauses(a: Clause[], b: Clause[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.ruleId !== y.ruleId || x.portLo !== y.portLo || x.portHi !== y.portHi || x.proto !== y.proto || x.dir !== y.dir || x.action !== y.action) return false;
  }
  return true;
}

export type EntryMap = 'v4Exact' | 'v6Exact' | 'v4Lpm' | 'v6Lpm' | 'v6Prefix';
export const ENTRY_MAPS: readonly EntryMap[] = ['v4Exact', 'v6Exact', 'v4Lpm', 'v6Lpm', 'v6Prefix'];
export const KEY_BYTES: Record<EntryMap, number> = { v4Exact: 8, v6Exact: 20, v4Lpm: 12, v6Lpm: 24, v6Prefix: 24 };
/** Every map of a ruleset the kernel holds entries in, for counts and capacities. */
export type RuleMap = EntryMap | 'v6Buckets';

/** How an entry key is laid out: {scope, addr}, {32 + prefix, scope, addr} or {scope, prefix, addr}. */
type KeyLayout = 'exact' | 'lpm' | 'prefix';
const KEY_LAYOUT: Record<EntryMap, KeyLayout> = { v4Exact: 'exact', v6Exact: 'exact', v4Lpm: 'lpm', v6Lpm: 'lpm', v6Prefix: 'prefix' };

/** A zeroed buffer of `bytes` (a multiple of 4) and a u32 view of the same memory. */
function wordBuffer(bytes: number): { buffer: Buffer; words: Uint32Array } {
  const words = new Uint32Array(bytes / 4);
  return { buffer: Buffer.from(words.buffer, 0, bytes), words };
}

/** Accumulates map entries of one kind (exact or LPM, v4 or v6), growing as needed. */
class EntryWriter {
  private keys: Buffer;
  private values: Buffer;
  private keyWords: Uint32Array;
  private valueWords: Uint32Array;
  count = 0;

  private readonly keySize: number;
  private readonly layout: KeyLayout;

  constructor(map: EntryMap, capacity: number, private readonly littleEndian: boolean) {
    this.keySize = KEY_BYTES[map];
    this.layout = KEY_LAYOUT[map];
    const slots = Math.max(capacity, 16);
    ({ buffer: this.keys, words: this.keyWords } = wordBuffer(this.keySize * slots));
    ({ buffer: this.values, words: this.valueWords } = wordBuffer(ENTRY_BYTES * slots));
  }

  /**
   * Appends an entry for the prefix (words at `at`, `prefix` bits); returns its index. The inline
   * clause is absent when `codes` is 0 (no action). u32 arguments may come as int32 (`| 0`,
   * unboxed across the call): the stores wrap them back.
   */
  add(scope: number, words: Uint32Array, at: number, wordCount: number, prefix: number, ruleId: number, ports: number, codes: number, setId: number): number {
    if (this.count * ENTRY_BYTES === this.values.length) this.grow();
    writeEntryKey(this.keyWords, (this.count * this.keySize) / 4, this.layout, scope, words, at, wordCount, prefix, this.littleEndian);
    const native = this.littleEndian === HOST_LE;
    const v = this.valueWords;
    const base = this.count * 4;
    // {u32 ruleId, u32 setId, u16 portLo, u16 portHi, u8 proto, u8 dir, u8 action, pad}
    const portPair = this.littleEndian ? (ports >>> 16) | ((ports & 0xffff) << 16) : ports;
    v[base] = native ? ruleId : swap32(ruleId);
    v[base + 1] = native ? setId : swap32(setId);
    v[base + 2] = native ? portPair : swap32(portPair);
    v[base + 3] = HOST_LE ? codes : swap32(codes); // bytes in order: proto, dir, action
    return this.count++;
  }

  key(index: number): Buffer {
    return this.keys.subarray(index * this.keySize, (index + 1) * this.keySize);
  }

  value(index: number): Buffer {
    return this.values.subarray(index * ENTRY_BYTES, (index + 1) * ENTRY_BYTES);
  }

  image(): MapImage {
    return { count: this.count, keys: this.keys.subarray(0, this.count * this.keySize), values: this.values.subarray(0, this.count * ENTRY_BYTES) };
  }

  /**
   * The image this writer will have once it holds `total` entries, of which the ones written so
   * far are final: the same buffers image() gives then. null if they would not fit (it grows).
   */
  growingImage(total: number): GrowingImage | null {
    if (total * ENTRY_BYTES > this.values.length) return null;
    return { count: total, ready: this.count, keys: this.keys.subarray(0, total * this.keySize), values: this.values.subarray(0, total * ENTRY_BYTES) };
  }

  private grow(): void {
    const slots = this.count * 2;
    const keys = wordBuffer(slots * this.keySize);
    const values = wordBuffer(slots * ENTRY_BYTES);
    keys.words.set(this.keyWords);
    values.words.set(this.valueWords);
    ({ buffer: this.keys, words: this.keyWords } = keys);
    ({ buffer: this.values, words: this.valueWords } = values);
  }
}

/** A key at u32 index `at` of `k` in its layout (see KeyLayout), the address words in network order. */
function writeEntryKey(k: Uint32Array, at: number, layout: KeyLayout, scope: number, words: Uint32Array, from: number, wordCount: number, prefix: number, littleEndian: boolean): void {
  const native = littleEndian === HOST_LE;
  let i = at;
  if (layout === 'lpm') k[i++] = native ? 32 + prefix : swap32(32 + prefix);
  k[i++] = native ? scope : swap32(scope);
  if (layout === 'prefix') k[i++] = native ? prefix : swap32(prefix);
  for (let w = 0; w < wordCount; w++) k[i + w] = HOST_LE ? swap32(words[from + w]!) : words[from + w]!;
}

/** The sweep's writers: full-length keys, trie prefixes, and hashed prefixes (v6; the trie's for v4). */
interface Writers {
  exact: EntryWriter;
  lpm: EntryWriter;
  prefix: EntryWriter;
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

function toClause(r: KernelRule): Clause {
  return { ruleId: r.ruleId, portLo: r.portLo, portHi: r.portHi, proto: PROTOCOL_CODE[r.protocol], dir: DIRECTION_CODE[r.direction], action: ACTION_CODE[r.action] };
}

/**
 * Bump allocation of the typed arrays a sweep needs, from one buffer that a full compile reuses
 * for both families: allocated one by one, per column and family, their tens of megabytes of
 * outside memory brought a full collection (a quarter second with a million rules held) into
 * every full compile. Asked for more than it holds, it falls back to fresh arrays.
 */
class Scratch {
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

/** Does the prefix (words at a, lenA) cover (words at b)? */
function covers(words: Uint32Array, a: number, lenA: number, b: number, wordCount: number): boolean {
  for (let w = 0; w < wordCount; w++) {
    const bits = Math.max(0, Math.min(32, lenA - w * 32));
    if (bits === 0) return true;
    const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    if (((words[b + w]! & mask) >>> 0) !== words[a + w]) return false;
  }
  return true;
}

const RADIX_SORT_MIN = 2048;

/** Rules of a family from which a first load skips the key index (see FamilyTable.append). */
const BULK_LOAD_MIN = 4096;

/** How often a full compile's sweep reports its growing images (see compileAll). */
const PROGRESS_KEYS = 32768;

/** Runs of at most this many keys are put in order by insertion (no call, no view object). */
const INSERTION_RUN = 16;

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
    for (let w = 0; w < wordCount; w++) if (words[a * wordCount + w] !== words[b * wordCount + w]) return words[a * wordCount + w]! - words[b * wordCount + w]!;
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
interface SweepKeys {
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
function sweepKeys(table: FamilyTable, slots: Uint32Array, scratch: Scratch): SweepKeys {
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
function mergeRepeatedKeys(table: FamilyTable, sorted: Uint32Array, words: Uint32Array, scopes: Uint32Array, lens: Uint8Array, ruleCounts: Uint32Array, n: number): Uint8Array | null {
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

/** An entry written or deleted by a change; `rank` orders specificity (the prefix length). */
export interface EntryChange {
  map: EntryMap;
  scope: number;
  rank: number;
  key: Buffer;
  /** null: delete the key. */
  value: Buffer | null;
}

/** What a change of rules needs from the kernel, in no particular order (see rule-diff.ts). */
export interface CompiledChange {
  /** New clause sets: array slots (u32 each) and contents, written before any entry uses them. */
  sets: { ids: Buffer; values: Buffer };
  entries: EntryChange[];
  /** v6 buckets whose lengths changed (see rule-diff.ts for when they are written). */
  buckets: BucketChange[];
  /** Entry count per map once the change is in (for capacity checks). */
  counts: Record<RuleMap, number>;
  /** One past the highest set id in use. */
  setSpan: number;
  warnings: string[];
}

function validateDefaults(defaults: KernelDefaults): void {
  for (const [appId, action] of defaults.perApp) {
    if (!Number.isInteger(appId) || appId <= 0 || appId > 0xffffffff) throw new RangeError(`defaults.perApp: app id ${appId} must be a u32 > 0`);
    if (!ACTIONS.has(action)) throw new RangeError(`defaults.perApp[${appId}]: unknown action ${String(action)}`);
  }
  if (!ACTIONS.has(defaults.global)) throw new RangeError(`defaults.global: unknown action ${String(defaults.global)}`);
}


/** A slot's rules once the last one went (shared, never changed). */
const NO_RULES: readonly KernelRule[] = Object.freeze([]);

/**
 * The keys of one family, one slot per key (family, scope, prefix), in columns: typed arrays
 * keep a million keys cheap to hold and to sweep (objects per key spent most of the time in the
 * garbage collector). A slot's rules: one rule, or an array (empty once its last rule went; the
 * slot is freed when the kernel entry is deleted).
 */
class FamilyTable {
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
  rules: Array<KernelRule | readonly KernelRule[] | undefined> = [];
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
  slotOf(rule: KernelRule): number {
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

  has(rule: KernelRule): boolean {
    const slot = this.slotOf(rule);
    if (slot < 0) return false;
    const rules = this.rules[slot]!;
    return isList(rules) ? rules.includes(rule) : rules === rule;
  }

  /** Adds a (valid) rule; returns its slot. */
  add(rule: KernelRule): number {
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
  remove(rule: KernelRule): number {
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
  append(rule: KernelRule): void {
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
    return [...(this.rules[slot] as KernelRule[])].sort(compareOwn).slice(0, MAX_CLAUSES + 1).map(toClause);
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

  private pack(slot: number, rule: KernelRule): void {
    this.ruleIds[slot] = rule.ruleId;
    this.ports[slot] = ((rule.portLo << 16) | rule.portHi) >>> 0;
    this.codes[slot] = PROTOCOL_CODE[rule.protocol] | (DIRECTION_CODE[rule.direction] << 8) | (ACTION_CODE[rule.action] << 16);
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
    const rules = new Array<KernelRule | readonly KernelRule[] | undefined>(capacity).fill(undefined);
    for (let slot = 0; slot < this.rules.length; slot++) rules[slot] = this.rules[slot];
    this.rules = rules;
    this.capacity = capacity;
  }
}

function isList(rules: KernelRule | readonly KernelRule[]): rules is readonly KernelRule[] {
  return Array.isArray(rules);
}

/** The rules the kernel should enforce, indexed by kernel key, and the clause sets of their entries. */
export class RuleCompiler {
  private readonly tables = { 4: new FamilyTable(4), 6: new FamilyTable(6) };
  private sets = new SetTable();
  /** Slots changed since the last compile, per family (tracked once something is installed). */
  private changed: Record<4 | 6, Set<number>> = { 4: new Set(), 6: new Set() };
  private compiledOnce = false;
  private held = 0;
  private readonly counts: Record<EntryMap, number> = { v4Exact: 0, v6Exact: 0, v4Lpm: 0, v6Lpm: 0, v6Prefix: 0 };
  /** v6 buckets of the installed v6Prefix keys, and the split they use (fixed until the next full compile). */
  private v6 = new V6Buckets(V6_SPLIT_MAX, false);

  constructor(readonly littleEndian = HOST_LE) {}

  /** Throws on defaults the helper should never produce, saying which and why. */
  static validateDefaults(defaults: KernelDefaults): void {
    validateDefaults(defaults);
  }

  /** Entries in the kernel per map (as of the last compile). */
  entryCounts(): Record<RuleMap, number> {
    return { ...this.counts, v6Buckets: this.v6.count };
  }

  /** Every rule held, in no particular order. */
  *rules(): Iterable<KernelRule> {
    for (const table of [this.tables[4], this.tables[6]]) {
      for (const rules of table.rules) {
        if (rules === undefined) continue;
        if (isList(rules)) yield* rules;
        else yield rules;
      }
    }
  }

  has(rule: KernelRule): boolean {
    return (rule.family === 4 || rule.family === 6) && this.tables[rule.family].has(rule);
  }

  /** Rules held. */
  get ruleCount(): number {
    return this.held;
  }

  /** Keys changed since the last compile (before keys under changed prefixes are counted). */
  get pendingKeys(): number {
    return this.changed[4].size + this.changed[6].size;
  }

  /**
   * Takes out `removed` (the very objects given before) and takes in `added` (each object once).
   * Checks everything first and throws before changing anything, naming the culprit.
   */
  update(removed: readonly KernelRule[], added: readonly KernelRule[], addedName = 'added'): void {
    for (let i = 0; i < added.length; i++) validateRule(added[i]!, i, addedName);
    const gone = new Set<KernelRule>();
    for (let i = 0; i < removed.length; i++) {
      const rule = removed[i]!;
      if (gone.has(rule) || !this.has(rule)) throw new RangeError(`removed[${i}] (ruleId ${String(rule?.ruleId)}): not among the compiled rules`);
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
      if (rule.family === 4 ? bulkV4 : bulkV6) {
        table.append(rule);
        continue;
      }
      const slot = table.add(rule);
      if (track) this.changed[rule.family].add(slot);
    }
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
      const affected = this.withCoveredSlots(table, this.changed[family]);
      const writers = this.writers(table, 0, 0, 0);
      const slots = Uint32Array.from(this.withCoveringSlots(table, affected));
      this.sweep(table, sweepKeys(table, slots, new Scratch(Scratch.bytesFor(table, slots.length))), affected, writers, (map, scope, len, key, value) => {
        entries.push({ map, scope, rank: len, key, value });
      });
      this.changed[family] = new Set();
    }
    const made = this.sets.settle();
    const values = Buffer.alloc(made.length * SET_BYTES);
    this.sets.write(made, values, this.littleEndian);
    const ids = Buffer.alloc(made.length * 4);
    made.forEach((id, i) => writeU32(ids, i * 4, id, this.littleEndian));
    const buckets = this.v6.takeChanges(this.littleEndian);
    return { sets: { ids, values }, entries, buckets, counts: this.entryCounts(), setSpan: this.sets.span, warnings: this.warnings() };
  }

  /**
   * Everything, for fresh maps: a new set table, every key compiled, every entry in the images.
   * `onImage` hears of each entry map's image while it is compiled (growing images, every
   * PROGRESS_KEYS keys of the sweep) and once it is complete, and of the v6 buckets' image once
   * the v6 keys are compiled, so the kernel can be filling them meanwhile; the sets come at the end.
   */
  compileAll(defaults: KernelDefaults, onImage?: (map: EntryMap | 'v6Buckets', image: GrowingImage) => void): CompiledRules {
    validateDefaults(defaults);
    this.sets = new SetTable();
    this.changed = { 4: new Set(), 6: new Set() };
    this.compiledOnce = true;
    for (const map of ENTRY_MAPS) this.counts[map] = 0;
    this.v6 = new V6Buckets(chooseV6Split(this.tables[6].perLength.values()), false, true);
    const images = {} as Record<EntryMap, MapImage>;
    const scratch = new Scratch(Math.max(Scratch.bytesFor(this.tables[4], this.tables[4].size), Scratch.bytesFor(this.tables[6], this.tables[6].size)));
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
      const planned: Record<EntryMap, number> = { v4Exact: exact, v6Exact: exact, v4Lpm: n - exact - hashed, v6Lpm: n - exact - hashed, v6Prefix: hashed };
      const totals: Array<[EntryMap, EntryWriter, number]> = [];
      for (const map of ENTRY_MAPS) if (writers[map]) totals.push([map, writers[map], planned[map]]);
      const progress = onImage && (() => {
        for (const [map, writer, total] of totals) {
          const image = writer.growingImage(total);
          if (image && image.ready! < total) onImage(map, image);
        }
      });
      this.sweep(table, keys, null, writers, () => undefined, progress);
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
    const appKeys = Buffer.alloc(defaults.perApp.size * 4);
    const appValues = Buffer.alloc(defaults.perApp.size);
    let a = 0;
    for (const [appId, action] of defaults.perApp) {
      writeU32(appKeys, a * 4, appId, le);
      appValues[a] = ACTION_CODE[action];
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
      globalDefault: ACTION_CODE[defaults.global],
      warnings: this.warnings(),
    };
  }

  private warnings(): string[] {
    return [...this.sets.overflowing].map(
      (id) => `clause set ${id}: more than ${MAX_CLAUSES} rules cover one address in one scope; the least specific ones are ignored there`,
    );
  }

  private writers(table: FamilyTable, exactCapacity: number, lpmCapacity: number, prefixCapacity: number): Writers & Partial<Record<EntryMap, EntryWriter>> {
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

  /**
   * `changed` plus every key under a changed prefix (they inherit its clauses). Finding them walks
   * the family's keys once per change, and only when a prefix changed and its scope holds longer
   * prefixes: adding or removing addresses (full-length keys) never does. Each key is checked by
   * looking up its own ancestors at the changed prefixes' lengths (a few hash probes), not by
   * comparing it with every changed prefix: a chunk of thousands of CIDRs would make that
   * chunk x keys, quadratic over an import.
   */
  private withCoveredSlots(table: FamilyTable, changed: Set<number>): Set<number> {
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
        if (len <= shortest || table.scopes[slot] !== scope || table.rules[slot] === undefined || affected.has(slot)) continue;
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
  private withCoveringSlots(table: FamilyTable, affected: Set<number>): number[] {
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

  /**
   * The one compile step, for a whole ruleset and for a change alike: sorts the given keys by
   * (scope, address, prefix length), walks them with a stack of covering prefixes, and gives every
   * key in `affected` (every key when null) its entry: own clauses (inline when one rule, else in
   * a set of own + inherited, since own prefixes are more specific) and the set of what covers it.
   * Keys without rules get their entry deleted. `emit` hears of each entry written (key and
   * value) or deleted (value null).
   */
  private sweep(
    table: FamilyTable, keys: SweepKeys, affected: Set<number> | null, writers: Writers,
    emit: (map: EntryMap, scope: number, len: number, key: Buffer, value: Buffer | null) => void,
    progress?: () => void,
  ): void {
    const { n, sorted, words, scopes, lens, ruleCounts, ruleIds, ports, codes, installed, repeats } = keys;
    if (n === 0) return;
    const sets = this.sets;
    const wc = table.wordCount;
    const fullLen = table.fullLen;
    const exactMap: EntryMap = table.family === 4 ? 'v4Exact' : 'v6Exact';
    const lpmMap: EntryMap = table.family === 4 ? 'v4Lpm' : 'v6Lpm';
    const split = this.splitOf(table);
    const buckets = this.v6;

    // Entry count changes, kept in locals (a keyed update of this.counts per key cost as much as the rest of the entry).
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
        const own: Clause = { ruleId: ruleIds[k]!, portLo: ports[k]! >>> 16, portHi: ports[k]! & 0xffff, proto: codes[k]! & 0xff, dir: (codes[k]! >>> 8) & 0xff, action: codes[k]! >>> 16 };
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
          writeEntryKey(keyWords, 0, KEY_LAYOUT[map], scope, words, at, wc, len, this.littleEndian);
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
    this.counts[exactMap] += exactCount;
    this.counts[lpmMap] += lpmCount;
    if (prefixCount !== 0) this.counts.v6Prefix += prefixCount;
  }
}

/** Compiles a whole ruleset at once (a fresh compiler's compileAll). */
export function compileRules(rules: KernelRule[], defaults: KernelDefaults, littleEndian = HOST_LE): CompiledRules {
  validateDefaults(defaults);
  const compiler = new RuleCompiler(littleEndian);
  compiler.update([], rules, 'rules');
  return compiler.compileAll(defaults);
}

/** The clauses an entry stands for, in the order the kernel tries them (for tests). */
export function describeEntry(compiled: CompiledRules, value: Buffer, littleEndian = HOST_LE): Clause[] {
  const out: Clause[] = [];
  const read32 = (buf: Buffer, at: number) => (littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const read16 = (buf: Buffer, at: number) => (littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  if (value[14] !== 0) {
    out.push({ ruleId: read32(value, 0), portLo: read16(value, 8), portHi: read16(value, 10), proto: value[12]!, dir: value[13]!, action: value[14]! });
  }
  const setId = read32(value, 4);
  if (setId === NO_SET) return out;
  const set = compiled.sets.values.subarray(setId * SET_BYTES, (setId + 1) * SET_BYTES);
  const count = read32(set, 0);
  for (let i = 0; i < count; i++) {
    const at = 8 + i * CLAUSE_BYTES;
    out.push({ ruleId: read32(set, at), portLo: read16(set, at + 4), portHi: read16(set, at + 6), proto: set[at + 8]!, dir: set[at + 9]!, action: set[at + 10]! });
  }
  return out;
}
