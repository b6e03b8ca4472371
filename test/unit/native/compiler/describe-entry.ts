// Test helper: compiled entries read back through the generated ABI offsets.
import { pcl_clause as CLAUSE, pcl_clause_set as SET, pcl_entry as ENTRY } from '../../../../native/abi.js';
import { HOST_LE } from '../../../../native/compiler/byte-order.js';
import { CLAUSE_BYTES, NO_SET, SET_BYTES } from '../../../../native/compiler/layout.js';
import type { Clause, CompiledRules } from '../../../../native/compiler/types.js';

/** The clauses an entry stands for, in the order the kernel tries them. */
export function describeEntry(compiled: CompiledRules, value: Buffer, littleEndian = HOST_LE): Clause[] {
  const out: Clause[] = [];
  const read32 = (buf: Buffer, at: number) => (littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const read16 = (buf: Buffer, at: number) => (littleEndian ? buf.readUInt16LE(at) : buf.readUInt16BE(at));
  const clauseAt = (buf: Buffer, at: number, fields: typeof CLAUSE | typeof ENTRY): Clause => ({
    ruleId: read32(buf, at + fields.rule_id),
    portLo: read16(buf, at + fields.port_lo),
    portHi: read16(buf, at + fields.port_hi),
    proto: buf[at + fields.proto]!,
    dir: buf[at + fields.dir]!,
    action: buf[at + fields.action]!,
  });
  if (value[ENTRY.action] !== 0) out.push(clauseAt(value, 0, ENTRY));
  const setId = read32(value, ENTRY.set_id);
  if (setId === NO_SET) return out;
  const set = compiled.sets.values.subarray(setId * SET_BYTES, (setId + 1) * SET_BYTES);
  const count = read32(set, SET.count);
  for (let i = 0; i < count; i++) out.push(clauseAt(set, SET.clauses + i * CLAUSE_BYTES, CLAUSE));
  return out;
}
