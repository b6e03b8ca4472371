// Compiles KernelRule[] into the byte layout of bpf/portcullis.h: exact-address hashes, LPM
// tries and deduplicated clause sets. Pure (no I/O), so the precedence logic is unit-tested
// without a kernel. See portcullis.h for precedence and for how the kernel reads these maps.
import type { KernelAction, KernelDefaults, KernelDirection, KernelProtocol, KernelRule } from './api.js';

export const MAX_CLAUSES = 16;
export const CLAUSE_BYTES = 12;
export const SET_BYTES = 8 + MAX_CLAUSES * CLAUSE_BYTES;
export const ENTRY_BYTES = 8;
const RULE_OWN = 0;

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

/** Throws on input the helper should never produce: says which rule and what is wrong. */
export function validateRule(rule: KernelRule, index: number): void {
  const where = `rules[${index}] (ruleId ${rule.ruleId})`;
  const fail = (why: string): never => {
    throw new RangeError(`${where}: ${why}`);
  };
  if (!Number.isInteger(rule.ruleId) || rule.ruleId <= 0 || rule.ruleId > 0xffffffff) fail('ruleId must be a u32 > 0');
  if (!Number.isInteger(rule.scope) || rule.scope < 0 || rule.scope > 0xffffffff) fail('scope must be a u32');
  if (rule.family !== 4 && rule.family !== 6) fail(`family must be 4 or 6, not ${String(rule.family)}`);
  const bytes = rule.family === 4 ? 4 : 16;
  if (!(rule.addr instanceof Uint8Array) || rule.addr.length !== bytes) fail(`addr must be ${bytes} bytes for IPv${rule.family}`);
  if (!Number.isInteger(rule.prefixLen) || rule.prefixLen < 0 || rule.prefixLen > bytes * 8) fail(`prefixLen must be 0..${bytes * 8}`);
  if (rule.family === 6 && rule.prefixLen >= 96 && isMapped(rule.addr)) fail('an IPv4-mapped IPv6 address must be given as family 4');
  const portOk = (p: number) => Number.isInteger(p) && p >= 0 && p <= 65535;
  if (!portOk(rule.portLo) || !portOk(rule.portHi) || rule.portLo > rule.portHi) fail('ports must satisfy 0 <= portLo <= portHi <= 65535');
  if (!(rule.protocol in PROTOCOL_CODE)) fail(`unknown protocol ${String(rule.protocol)}`);
  if (!(rule.direction in DIRECTION_CODE)) fail(`unknown direction ${String(rule.direction)}`);
  if (!(rule.action in ACTION_CODE)) fail(`unknown action ${String(rule.action)}`);
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

/** Clause-set store with deduplication; set contents are written once, when first seen. */
class SetTable {
  private readonly sets: Clause[][] = [];
  private readonly singles = new Map<number, Map<number, number>>();
  private readonly multiples = new Map<string, number>();
  readonly overflowing = new Set<number>();

  get count(): number {
    return this.sets.length;
  }

  clauses(id: number): Clause[] {
    return this.sets[id]!;
  }

  /** The set for "own clauses, then everything the parent set holds". */
  intern(own: Clause[], parent: number): number {
    if (own.length === 1) {
      const c = own[0]!;
      const signature = ((((c.portLo * 65536 + c.portHi) * 32 + c.proto) * 4 + c.dir) * 4 + c.action) * 2 + Number(c.ruleId !== RULE_OWN);
      let byParent = this.singles.get(parent);
      if (!byParent) this.singles.set(parent, (byParent = new Map()));
      if (c.ruleId === RULE_OWN) {
        const found = byParent.get(signature);
        if (found !== undefined) return found;
        const id = this.add(own, parent);
        byParent.set(signature, id);
        return id;
      }
    }
    const key = `${parent}|${own.map((c) => `${c.ruleId},${c.portLo},${c.portHi},${c.proto},${c.dir},${c.action}`).join(';')}`;
    const found = this.multiples.get(key);
    if (found !== undefined) return found;
    const id = this.add(own, parent);
    this.multiples.set(key, id);
    return id;
  }

  private add(own: Clause[], parent: number): number {
    const inherited = parent >= 0 ? this.sets[parent]! : [];
    const all = own.concat(inherited);
    const id = this.sets.length;
    if (all.length > MAX_CLAUSES) this.overflowing.add(id);
    this.sets.push(all.slice(0, MAX_CLAUSES));
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

/** Accumulates map entries of one kind (exact or LPM, v4 or v6). */
class EntryWriter {
  private keys: Buffer;
  private values: Buffer;
  count = 0;

  constructor(private readonly keySize: number, capacity: number, private readonly littleEndian: boolean) {
    this.keys = Buffer.alloc(keySize * capacity);
    this.values = Buffer.alloc(ENTRY_BYTES * capacity);
  }

  /** lpmPrefix < 0: an exact key {scope, addr}; else an LPM key {32 + prefix, scope, addr}. */
  add(scope: number, words: Uint32Array, at: number, wordCount: number, lpmPrefix: number, ruleId: number, setId: number): void {
    let off = this.count * this.keySize;
    const le = this.littleEndian;
    if (lpmPrefix >= 0) {
      le ? this.keys.writeUInt32LE(32 + lpmPrefix, off) : this.keys.writeUInt32BE(32 + lpmPrefix, off);
      off += 4;
    }
    le ? this.keys.writeUInt32LE(scope, off) : this.keys.writeUInt32BE(scope, off);
    off += 4;
    for (let w = 0; w < wordCount; w++) this.keys.writeUInt32BE(words[at + w]!, off + w * 4); // network order
    const v = this.count * ENTRY_BYTES;
    le ? this.values.writeUInt32LE(ruleId, v) : this.values.writeUInt32BE(ruleId, v);
    le ? this.values.writeUInt32LE(setId, v + 4) : this.values.writeUInt32BE(setId, v + 4);
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

interface Frame {
  at: number; // index into words of the frame's prefix
  len: number;
  setId: number;
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
 * Compiles one family's rules: groups by (scope, prefix), finds each prefix's nearest covering
 * prefix in the same scope by a sorted sweep with a stack, and interns "own clauses + parent's
 * set" (already in precedence order, since own prefixes are longer than inherited ones).
 */
function compileFamily(rules: KernelRule[], family: 4 | 6, sets: SetTable, exact: EntryWriter, lpm: EntryWriter): void {
  const n = rules.length;
  if (n === 0) return;
  const wordCount = family === 4 ? 1 : 4;
  const fullLen = wordCount * 32;
  const words = new Uint32Array(n * wordCount);
  const scopes = new Uint32Array(n);
  const lens = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const r = rules[i]!;
    maskedWords(r, words, i * wordCount);
    scopes[i] = r.scope;
    lens[i] = r.prefixLen;
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    if (scopes[a] !== scopes[b]) return scopes[a]! - scopes[b]!;
    for (let w = 0; w < wordCount; w++) {
      const d = words[a * wordCount + w]! - words[b * wordCount + w]!;
      if (d !== 0) return d;
    }
    return lens[a]! - lens[b]!;
  });

  const stack: Frame[] = [];
  let stackScope = -1;
  const toClause = (r: KernelRule, own: boolean): Clause => ({
    ruleId: own ? RULE_OWN : r.ruleId,
    portLo: r.portLo,
    portHi: r.portHi,
    proto: PROTOCOL_CODE[r.protocol],
    dir: DIRECTION_CODE[r.direction],
    action: ACTION_CODE[r.action],
  });

  for (let i = 0; i < n; ) {
    const first = order[i]!;
    const at = first * wordCount;
    const len = lens[first]!;
    const scope = scopes[first]!;
    let j = i + 1;
    while (j < n) {
      const other = order[j]!;
      if (scopes[other] !== scope || lens[other] !== len) break;
      let same = true;
      for (let w = 0; w < wordCount && same; w++) same = words[other * wordCount + w] === words[at + w];
      if (!same) break;
      j++;
    }
    if (scope !== stackScope) {
      stack.length = 0;
      stackScope = scope;
    }
    while (stack.length > 0 && !covers(words, stack[stack.length - 1]!.at, stack[stack.length - 1]!.len, at, wordCount)) stack.pop();
    const parent = stack.length > 0 ? stack[stack.length - 1]!.setId : -1;

    let own: Clause[];
    let entryRuleId = 0;
    if (j - i === 1) {
      const r = rules[first]!;
      own = [toClause(r, true)];
      entryRuleId = r.ruleId;
    } else {
      const group: KernelRule[] = [];
      for (let k = i; k < j; k++) group.push(rules[order[k]!]!);
      group.sort(compareOwn);
      own = group.map((r) => toClause(r, false));
    }
    const setId = sets.intern(own, parent);
    if (len === fullLen) {
      exact.add(scope, words, at, wordCount, -1, entryRuleId, setId);
    } else {
      lpm.add(scope, words, at, wordCount, len, entryRuleId, setId);
      stack.push({ at, len, setId });
    }
    i = j;
  }
}

export function compileRules(rules: KernelRule[], defaults: KernelDefaults, littleEndian = isLittleEndian()): CompiledRules {
  const v4: KernelRule[] = [];
  const v6: KernelRule[] = [];
  rules.forEach((rule, index) => {
    validateRule(rule, index);
    (rule.family === 4 ? v4 : v6).push(rule);
  });
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
    littleEndian ? appKeys.writeUInt32LE(appId, a * 4) : appKeys.writeUInt32BE(appId, a * 4);
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
    appDefaults: { count: a, keys: appKeys, values: appValues },
    globalDefault: ACTION_CODE[defaults.global],
    warnings,
  };
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

/** What a compiled set says, for tests: clauses with their rule ids resolved. */
export function describeSet(compiled: CompiledRules, setId: number, entryRuleId: number, littleEndian = isLittleEndian()): Clause[] {
  const view = new DataView(compiled.sets.values.buffer, compiled.sets.values.byteOffset + setId * SET_BYTES, SET_BYTES);
  const count = view.getUint32(0, littleEndian);
  const out: Clause[] = [];
  for (let i = 0; i < count; i++) {
    const at = 8 + i * CLAUSE_BYTES;
    const id = view.getUint32(at, littleEndian);
    out.push({
      ruleId: id === RULE_OWN ? entryRuleId : id,
      portLo: view.getUint16(at + 4, littleEndian),
      portHi: view.getUint16(at + 6, littleEndian),
      proto: view.getUint8(at + 8),
      dir: view.getUint8(at + 9),
      action: view.getUint8(at + 10),
    });
  }
  return out;
}
