// Compiles KernelRule[] into the byte layout of bpf/portcullis.h: exact-address hashes, LPM
// tries and deduplicated clause sets. Pure (no I/O), so the precedence logic is unit-tested
// without a kernel. See portcullis.h for precedence and for how the kernel reads these maps.
import type { KernelAction, KernelDefaults, KernelDirection, KernelProtocol, KernelRule } from './api.js';

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

export interface CompiledRules {
  v4Exact: MapImage;
  v6Exact: MapImage;
  v4Lpm: MapImage;
  v6Lpm: MapImage;
  /** Array map: keys are the indexes 0..count-1 (keys buffer left empty). */
  sets: MapImage;
  /** Content of each set as a string, by set id (identifies equal sets across compiles). */
  setKeys: string[];
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

function invalid(rule: KernelRule, index: number, why: string): never {
  throw new RangeError(`rules[${index}] (ruleId ${String(rule.ruleId)}): ${why}`);
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Throws on input the helper should never produce: says which rule and what is wrong. */
export function validateRule(rule: KernelRule, index: number): void {
  if (!Number.isInteger(rule.ruleId) || rule.ruleId <= 0 || rule.ruleId > 0xffffffff) invalid(rule, index, 'ruleId must be a u32 > 0');
  if (!Number.isInteger(rule.scope) || rule.scope < 0 || rule.scope > 0xffffffff) invalid(rule, index, 'scope must be a u32');
  if (rule.family !== 4 && rule.family !== 6) invalid(rule, index, `family must be 4 or 6, not ${String(rule.family)}`);
  const bytes = rule.family === 4 ? 4 : 16;
  if (!(rule.addr instanceof Uint8Array) || rule.addr.length !== bytes) invalid(rule, index, `addr must be ${bytes} bytes for IPv${rule.family}`);
  if (!Number.isInteger(rule.prefixLen) || rule.prefixLen < 0 || rule.prefixLen > bytes * 8) invalid(rule, index, `prefixLen must be 0..${bytes * 8}`);
  if (rule.family === 6 && rule.prefixLen >= 96 && isMapped(rule.addr)) invalid(rule, index, 'an IPv4-mapped IPv6 address must be given as family 4');
  if (!isPort(rule.portLo) || !isPort(rule.portHi) || rule.portLo > rule.portHi) invalid(rule, index, 'ports must satisfy 0 <= portLo <= portHi <= 65535');
  if (PROTOCOL_CODE[rule.protocol] === undefined) invalid(rule, index, `unknown protocol ${String(rule.protocol)}`);
  if (DIRECTION_CODE[rule.direction] === undefined) invalid(rule, index, `unknown direction ${String(rule.direction)}`);
  if (ACTION_CODE[rule.action] === undefined) invalid(rule, index, `unknown action ${String(rule.action)}`);
}

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
 * Clause sets, deduplicated by content; written once, when first seen. Content is identified by
 * a 52-bit hash (checked clause by clause on a hit): strings of every set's clauses made a 1M-rule
 * compile spend most of its time collecting garbage.
 */
class SetTable {
  private readonly sets: Clause[][] = [];
  private readonly hashes: number[] = [];
  private readonly byHash = new Map<number, number>();
  readonly overflowing = new Set<number>();

  get count(): number {
    return this.sets.length;
  }

  /** Content keys by set id (for diffing one compiled ruleset against another). */
  keys(): string[] {
    return this.hashes.map(String);
  }

  clauses(id: number): Clause[] {
    return id === NO_SET ? [] : this.sets[id]!;
  }

  /** The set holding `clauses` (most specific first), or NO_SET when there are none. */
  intern(clauses: Clause[]): number {
    if (clauses.length === 0) return NO_SET;
    const kept = clauses.length > MAX_CLAUSES ? clauses.slice(0, MAX_CLAUSES) : clauses;
    let hash = hashClauses(kept);
    for (;;) {
      const found = this.byHash.get(hash);
      if (found === undefined) break;
      if (sameClauses(this.sets[found]!, kept)) return found;
      hash = (hash + 1) % 2 ** 52; // a true collision: probe on
    }
    const id = this.sets.length;
    if (clauses.length > MAX_CLAUSES) this.overflowing.add(id);
    this.sets.push(kept);
    this.hashes.push(hash);
    this.byHash.set(hash, id);
    return id;
  }

  image(littleEndian: boolean): MapImage {
    const values = Buffer.alloc(this.sets.length * SET_BYTES);
    const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
    this.sets.forEach((clauses, id) => {
      const base = id * SET_BYTES;
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
    return { count: this.sets.length, keys: Buffer.alloc(0), values };
  }
}

function hashClauses(clauses: Clause[]): number {
  let hi = 0x811c9dc5;
  let lo = 0x01000193;
  const mix = (value: number) => {
    hi = Math.imul(hi ^ value, 0x01000193) >>> 0;
    lo = Math.imul(lo ^ value ^ (hi >>> 15), 0x5bd1e995) >>> 0;
  };
  for (const c of clauses) {
    mix(c.ruleId);
    mix((c.portLo << 16) | c.portHi);
    mix(c.proto | (c.dir << 8) | (c.action << 16));
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

/** Accumulates map entries of one kind (exact or LPM, v4 or v6). */
class EntryWriter {
  private readonly keys: Buffer;
  private readonly values: Buffer;
  private readonly keyView: DataView;
  private readonly valueView: DataView;
  count = 0;

  constructor(private readonly keySize: number, capacity: number, private readonly littleEndian: boolean) {
    this.keys = Buffer.alloc(keySize * capacity);
    this.values = Buffer.alloc(ENTRY_BYTES * capacity);
    this.keyView = new DataView(this.keys.buffer, this.keys.byteOffset, this.keys.byteLength);
    this.valueView = new DataView(this.values.buffer, this.values.byteOffset, this.values.byteLength);
  }

  /**
   * lpmPrefix < 0: an exact key {scope, addr}; else an LPM key {32 + prefix, scope, addr}.
   * The inline clause (the entry's own rule) is absent when action is 0.
   */
  add(scope: number, words: Uint32Array, at: number, wordCount: number, lpmPrefix: number, c: InlineClause, setId: number): void {
    const le = this.littleEndian;
    const k = this.keyView;
    let off = this.count * this.keySize;
    if (lpmPrefix >= 0) {
      k.setUint32(off, 32 + lpmPrefix, le);
      off += 4;
    }
    k.setUint32(off, scope, le);
    off += 4;
    for (let w = 0; w < wordCount; w++) k.setUint32(off + w * 4, words[at + w]!, false); // network order
    const v = this.valueView;
    const base = this.count * ENTRY_BYTES;
    v.setUint32(base, c.ruleId, le);
    v.setUint32(base + 4, setId, le);
    v.setUint16(base + 8, c.portLo, le);
    v.setUint16(base + 10, c.portHi, le);
    v.setUint8(base + 12, c.proto);
    v.setUint8(base + 13, c.dir);
    v.setUint8(base + 14, c.action);
    this.count++;
  }

  image(): MapImage {
    return {
      count: this.count,
      keys: this.keys.subarray(0, this.count * this.keySize),
      values: this.values.subarray(0, this.count * ENTRY_BYTES),
    };
  }
}

/** A clause, or "none" (action 0): a reusable record, so a million entries allocate nothing. */
type InlineClause = Clause;

/** A covering prefix on the sweep's stack. */
interface Frame {
  at: number; // index into (sorted) words of the frame's prefix
  len: number;
  own: Clause[]; // its own clauses, in precedence order
  inherited: number; // set of what covers it
  full: number | undefined; // set of own + inherited, made when a child first needs it
}

function toClause(r: KernelRule): Clause {
  return { ruleId: r.ruleId, portLo: r.portLo, portHi: r.portHi, proto: PROTOCOL_CODE[r.protocol], dir: DIRECTION_CODE[r.direction], action: ACTION_CODE[r.action] };
}

/** Permutes a typed array into the given order (one random-access pass, then sequential use). */
function gather<T extends Uint32Array | Uint16Array | Uint8Array>(source: T, order: Uint32Array, stride: number, make: (n: number) => T): T {
  const out = make(order.length * stride);
  for (let k = 0; k < order.length; k++) {
    const from = order[k]! * stride;
    for (let s = 0; s < stride; s++) out[k * stride + s] = source[from + s]!;
  }
  return out;
}

/** Does the prefix (wordsA at a, lenA) cover (wordsB at b)? */
function covers(words: Uint32Array, a: number, lenA: number, b: number, wordCount: number): boolean {
  for (let w = 0; w < wordCount; w++) {
    const bits = Math.max(0, Math.min(32, lenA - w * 32));
    if (bits === 0) return true;
    const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
    if (((words[b + w]! & mask) >>> 0) !== words[a + w]) return false;
  }
  return true;
}

/**
 * Rule indexes ordered by (scope, address words, prefix length): an LSD radix sort on 16-bit
 * digits (stable, linear; a comparator sort of a million rules costs seconds). Digits that are
 * the same for every rule are skipped.
 */
function sortPrefixes(n: number, wordCount: number, words: Uint32Array, scopes: Uint32Array, lens: Uint8Array): Uint32Array {
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let spare = new Uint32Array(n);
  const counts = new Uint32Array(65537);
  const digits = new Uint16Array(n);
  // digits[i] holds rule i's digit for this pass; one counting-sort pass over them.
  const pass = (): void => {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[digits[i]! + 1]!++;
    let distinct = 0;
    for (let d = 1; d <= 65536 && distinct < 2; d++) if (counts[d]! > 0) distinct++;
    if (distinct <= 1) return; // every rule has this digit: order unchanged
    for (let d = 1; d <= 65536; d++) counts[d]! += counts[d - 1]!;
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      spare[counts[digits[i]!]!++] = i;
    }
    [order, spare] = [spare, order];
  };
  digits.set(lens);
  pass();
  for (let w = wordCount - 1; w >= 0; w--) {
    for (let i = 0; i < n; i++) digits[i] = words[i * wordCount + w]! & 0xffff;
    pass();
    for (let i = 0; i < n; i++) digits[i] = words[i * wordCount + w]! >>> 16;
    pass();
  }
  for (let i = 0; i < n; i++) digits[i] = scopes[i]! & 0xffff;
  pass();
  for (let i = 0; i < n; i++) digits[i] = scopes[i]! >>> 16;
  pass();
  return order;
}

/**
 * Compiles one family's rules: groups by (scope, prefix), finds each prefix's nearest covering
 * prefix in the same scope by a sorted sweep with a stack, and interns "own clauses + parent's
 * set" (already in precedence order, since own prefixes are longer than inherited ones).
 */
function compileFamily(rules: KernelRule[], family: 4 | 6, sets: SetTable, exact: EntryWriter, lpm: EntryWriter): void {
  const n = rules.length;
  if (n === 0) return;
  const wordCount = family === 4 ? 1 : 4;
  const fullLen = wordCount * 32;
  const rawWords = new Uint32Array(n * wordCount);
  const rawScopes = new Uint32Array(n);
  const rawLens = new Uint8Array(n);
  const rawIds = new Uint32Array(n);
  const rawPorts = new Uint32Array(n); // lo << 16 | hi
  const rawCodes = new Uint32Array(n); // proto | dir << 8 | action << 16
  for (let i = 0; i < n; i++) {
    const r = rules[i]!;
    maskedWords(r, rawWords, i * wordCount);
    rawScopes[i] = r.scope;
    rawLens[i] = r.prefixLen;
    rawIds[i] = r.ruleId;
    rawPorts[i] = ((r.portLo << 16) | r.portHi) >>> 0;
    rawCodes[i] = PROTOCOL_CODE[r.protocol] | (DIRECTION_CODE[r.direction] << 8) | (ACTION_CODE[r.action] << 16);
  }
  const order = sortPrefixes(n, wordCount, rawWords, rawScopes, rawLens);
  // From here on everything is read in sorted order.
  const words = gather(rawWords, order, wordCount, (m) => new Uint32Array(m));
  const scopes = gather(rawScopes, order, 1, (m) => new Uint32Array(m));
  const lens = gather(rawLens, order, 1, (m) => new Uint8Array(m));
  const ids = gather(rawIds, order, 1, (m) => new Uint32Array(m));
  const ports = gather(rawPorts, order, 1, (m) => new Uint32Array(m));
  const codes = gather(rawCodes, order, 1, (m) => new Uint32Array(m));

  const clauseAt = (k: number, into: Clause): Clause => {
    into.ruleId = ids[k]!;
    into.portLo = ports[k]! >>> 16;
    into.portHi = ports[k]! & 0xffff;
    into.proto = codes[k]! & 0xff;
    into.dir = (codes[k]! >>> 8) & 0xff;
    into.action = codes[k]! >>> 16;
    return into;
  };
  const none: Clause = { ruleId: 0, portLo: 0, portHi: 0, proto: 0, dir: 0, action: 0 };
  const scratch: Clause = { ...none };

  const stack: Frame[] = [];
  let stackScope = -1;
  /** What a prefix under `top` inherits: top's own clauses, then what top inherits. */
  const inheritedFrom = (top: Frame | undefined): number => {
    if (!top) return NO_SET;
    top.full ??= sets.intern(top.own.length > MAX_CLAUSES ? top.own : top.own.concat(sets.clauses(top.inherited)));
    return top.full;
  };

  for (let i = 0; i < n; ) {
    const at = i * wordCount;
    const len = lens[i]!;
    const scope = scopes[i]!;
    let j = i + 1;
    while (j < n && scopes[j] === scope && lens[j] === len) {
      let same = true;
      for (let w = 0; w < wordCount && same; w++) same = words[j * wordCount + w] === words[at + w];
      if (!same) break;
      j++;
    }
    if (scope !== stackScope) {
      stack.length = 0;
      stackScope = scope;
    }
    while (stack.length > 0 && !covers(words, stack[stack.length - 1]!.at, stack[stack.length - 1]!.len, at, wordCount)) stack.pop();
    const inherited = inheritedFrom(stack[stack.length - 1]);

    // One rule at this prefix: inline in the entry. Several: all in the entry's set.
    if (j - i === 1) {
      const inline = clauseAt(i, scratch);
      if (len === fullLen) {
        exact.add(scope, words, at, wordCount, -1, inline, inherited);
      } else {
        lpm.add(scope, words, at, wordCount, len, inline, inherited);
        stack.push({ at, len, own: [{ ...inline }], inherited, full: undefined });
      }
    } else {
      const group: KernelRule[] = [];
      for (let k = i; k < j; k++) group.push(rules[order[k]!]!);
      group.sort(compareOwn);
      // Only the first MAX_CLAUSES can ever decide (the set holds no more).
      const own = group.slice(0, MAX_CLAUSES + 1).map(toClause);
      const setId = sets.intern(own.concat(sets.clauses(inherited)));
      if (len === fullLen) {
        exact.add(scope, words, at, wordCount, -1, none, setId);
      } else {
        lpm.add(scope, words, at, wordCount, len, none, setId);
        stack.push({ at, len, own, inherited, full: setId });
      }
    }
    i = j;
  }
}

export function compileRules(rules: KernelRule[], defaults: KernelDefaults, littleEndian = isLittleEndian()): CompiledRules {
  const v4: KernelRule[] = [];
  const v6: KernelRule[] = [];
  for (let index = 0; index < rules.length; index++) {
    const rule = rules[index]!;
    validateRule(rule, index);
    if (rule.family === 4) v4.push(rule);
    else v6.push(rule);
  }
  const sets = new SetTable();
  const v4Exact = new EntryWriter(8, v4.length, littleEndian);
  const v4Lpm = new EntryWriter(12, v4.length, littleEndian);
  const v6Exact = new EntryWriter(20, v6.length, littleEndian);
  const v6Lpm = new EntryWriter(24, v6.length, littleEndian);
  compileFamily(v4, 4, sets, v4Exact, v4Lpm);
  compileFamily(v6, 6, sets, v6Exact, v6Lpm);

  const appKeys = Buffer.alloc(defaults.perApp.size * 4);
  const appValues = Buffer.alloc(defaults.perApp.size);
  let a = 0;
  for (const [appId, action] of defaults.perApp) {
    if (!Number.isInteger(appId) || appId <= 0 || appId > 0xffffffff) throw new RangeError(`defaults.perApp: app id ${appId} must be a u32 > 0`);
    if (!(action in ACTION_CODE)) throw new RangeError(`defaults.perApp[${appId}]: unknown action ${String(action)}`);
    new DataView(appKeys.buffer, appKeys.byteOffset, appKeys.byteLength).setUint32(a * 4, appId, littleEndian);
    appValues[a] = ACTION_CODE[action];
    a++;
  }
  if (!(defaults.global in ACTION_CODE)) throw new RangeError(`defaults.global: unknown action ${String(defaults.global)}`);

  const warnings = [...sets.overflowing].map(
    (id) => `clause set ${id}: more than ${MAX_CLAUSES} rules cover one address in one scope; the least specific ones are ignored there`,
  );
  return {
    v4Exact: v4Exact.image(),
    v6Exact: v6Exact.image(),
    v4Lpm: v4Lpm.image(),
    v6Lpm: v6Lpm.image(),
    sets: sets.image(littleEndian),
    setKeys: sets.keys(),
    appDefaults: { count: a, keys: appKeys, values: appValues },
    globalDefault: ACTION_CODE[defaults.global],
    warnings,
  };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** The clauses an entry stands for, in the order the kernel tries them (for tests). */
export function describeEntry(compiled: CompiledRules, value: Buffer, littleEndian = isLittleEndian()): Clause[] {
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
