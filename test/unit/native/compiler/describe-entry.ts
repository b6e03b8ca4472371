// Reads an entry back: the clauses it stands for, in the order the kernel tries them.
import { HOST_LE } from '../../../../native/compiler/byte-order.js';
import { CLAUSE_BYTES, NO_SET, SET_BYTES } from '../../../../native/compiler/layout.js';
import type { Clause, CompiledRules } from '../../../../native/compiler/types.js';

/** The clauses an entry stands for, in the order the kernel tries them. */
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
