// Clause sets: the clauses an entry falls back to after its inline one (its own when several rules
// share its prefix, then those inherited from covering prefixes), deduplicated by content and kept
// in the kernel's set array, whose slots are the sets' ids.
import * as abi from '../abi.js';
import type { CompilableRule } from '../api.js';
import { ACTION_CODE, CLAUSE_BYTES, DIRECTION_CODE, MAX_CLAUSES, NO_SET, PROTOCOL_CODE, SET_BYTES } from './layout.js';
import type { Clause, MapImage } from './types.js';

// Offsets as module-local constants, read for every clause written: an imported name is a
// property load, a getter under tsx, and a getter through a getter behind native/abi.ts's re-export.
const { count: SET_COUNT, clauses: SET_CLAUSES } = abi.pcl_clause_set;
const { rule_id: RULE_ID, port_lo: PORT_LO, port_hi: PORT_HI, proto: PROTO, dir: DIR, action: ACTION } = abi.pcl_clause;

/** Precedence within one prefix: narrower port range, specific protocol, block, lower id. */
export function compareOwn(a: CompilableRule, b: CompilableRule): number {
  return (
    a.portHi - a.portLo - (b.portHi - b.portLo) ||
    Number(a.protocol === 'any') - Number(b.protocol === 'any') ||
    ACTION_CODE[b.action] - ACTION_CODE[a.action] ||
    a.ruleId - b.ruleId
  );
}

export function toClause(r: CompilableRule): Clause {
  return {
    ruleId: r.ruleId,
    portLo: r.portLo,
    portHi: r.portHi,
    proto: PROTOCOL_CODE[r.protocol],
    dir: DIRECTION_CODE[r.direction],
    action: ACTION_CODE[r.action],
  };
}

/**
 * Clause sets, deduplicated by content, with ids that are slots of the kernel's set array.
 * Content is identified by a 52-bit hash (checked clause by clause on a hit): strings of every
 * set's clauses made a 1M-rule compile spend most of its time collecting garbage. Each set counts
 * the entries using it; one no entry uses is freed once a change is complete, and its slot is
 * handed out again only by a later change, when no kernel entry can still point at it.
 */
export class SetTable {
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
      view.setUint32(base + SET_COUNT, clauses.length, littleEndian);
      clauses.forEach((c, i) => {
        const at = base + SET_CLAUSES + i * CLAUSE_BYTES;
        view.setUint32(at + RULE_ID, c.ruleId, littleEndian);
        view.setUint16(at + PORT_LO, c.portLo, littleEndian);
        view.setUint16(at + PORT_HI, c.portHi, littleEndian);
        view.setUint8(at + PROTO, c.proto);
        view.setUint8(at + DIR, c.dir);
        view.setUint8(at + ACTION, c.action);
      });
    });
  }

  /** The whole array (slot = id; free slots are empty sets). */
  image(littleEndian: boolean): MapImage {
    const values = Buffer.alloc(this.sets.length * SET_BYTES);
    this.write(
      Array.from({ length: this.sets.length }, (_, id) => id),
      values,
      littleEndian,
    );
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
      const value =
        part === 0 ? c.ruleId : part === 1 ? (c.portLo << 16) | c.portHi : c.proto | (c.dir << 8) | (c.action << 16);
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
    if (
      x.ruleId !== y.ruleId ||
      x.portLo !== y.portLo ||
      x.portHi !== y.portHi ||
      x.proto !== y.proto ||
      x.dir !== y.dir ||
      x.action !== y.action
    )
      return false;
  }
  return true;
}
