// Small rule changes as an in-place diff of the active generation's maps, instead of a swap of
// fresh maps (which costs several RCU grace periods). Pure: plans the steps, the addon runs them.
//
// Why the order keeps "blocked in both old and new => blocked throughout": within one scope the
// kernel decides by the longest present prefix. Upserts go most specific first and deletes least
// specific first, so whatever entry a lookup finds is the longest match of either the old or the
// new ruleset, and its clauses (written complete, sets before the entries that use them) give
// that ruleset's answer. Changes spanning several scopes, or defaults, go as a swap instead.
import { ENTRY_BYTES, NO_SET, SET_BYTES, type CompiledRules, type MapImage } from './rule-compiler.js';

export type EntryMap = 'v4Exact' | 'v6Exact' | 'v4Lpm' | 'v6Lpm';
export const ENTRY_MAPS: EntryMap[] = ['v4Exact', 'v6Exact', 'v4Lpm', 'v6Lpm'];
const KEY_SIZE: Record<EntryMap, number> = { v4Exact: 8, v6Exact: 20, v4Lpm: 12, v6Lpm: 24 };

/** Above this many entries, keeping the state needed for diffs costs more than it saves. */
export const DIFF_MAX_ENTRIES = 50_000;

/**
 * Inner-map capacity for a swap, with headroom for later diffs. LPM tries allocate per element
 * (headroom is free); the exact hashes and the set array are preallocated (inserting into a
 * preallocated hash measured ~1.5-2x faster), so their headroom is kept modest.
 */
export function capacityFor(map: EntryMap | 'sets' | 'appDefaults', count: number): number {
  if (map === 'sets') return count + 1024; // 200 bytes a slot
  if (map === 'v4Exact' || map === 'v6Exact') return count + Math.max(1024, count >> 3);
  return count + Math.max(4096, count >> 2);
}

/** What the kernel holds now, as far as diffs need to know. */
export interface DiffState {
  entries: Record<EntryMap, Map<string, Buffer>>; // key hex -> value
  setIds: Map<string, number>; // set content -> id in the kernel's array
  setCount: number;
  capacities: Record<EntryMap | 'sets', number>;
  globalDefault: number;
  appDefaults: string; // hex of keys + values
}

export interface DiffStep {
  map: EntryMap | 'sets';
  op: 'upsert' | 'delete';
  keys: Buffer;
  values?: Buffer;
}

export interface DiffPlan {
  steps: DiffStep[];
  written: number;
  deleted: number;
  next: DiffState;
}

function writeU32(buf: Buffer, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) buf.writeUInt32LE(value, at);
  else buf.writeUInt32BE(value, at);
}

function entriesOf(image: MapImage, keySize: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let i = 0; i < image.count; i++) {
    out.set(image.keys.toString('hex', i * keySize, (i + 1) * keySize), image.values.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES));
  }
  return out;
}

function appDefaultsKey(compiled: CompiledRules): string {
  return compiled.appDefaults.keys.toString('hex') + ':' + compiled.appDefaults.values.toString('hex');
}

function entryCount(compiled: CompiledRules): number {
  return ENTRY_MAPS.reduce((n, m) => n + compiled[m].count, 0);
}

/** The state after a swap installed `compiled` with these capacities, or null when too big to track. */
export function stateAfterSwap(compiled: CompiledRules, capacities: DiffState['capacities']): DiffState | null {
  if (entryCount(compiled) > DIFF_MAX_ENTRIES) return null;
  const setIds = new Map<string, number>();
  compiled.setKeys.forEach((key, id) => setIds.set(key, id));
  return {
    entries: { v4Exact: entriesOf(compiled.v4Exact, 8), v6Exact: entriesOf(compiled.v6Exact, 20), v4Lpm: entriesOf(compiled.v4Lpm, 12), v6Lpm: entriesOf(compiled.v6Lpm, 24) },
    setIds,
    setCount: compiled.sets.count,
    capacities,
    globalDefault: compiled.globalDefault,
    appDefaults: appDefaultsKey(compiled),
  };
}

/** Scope of an entry key (LPM keys start with the prefix length). */
function scopeOf(map: EntryMap, keyHex: string, littleEndian: boolean): number {
  const key = Buffer.from(keyHex.slice(map.endsWith('Lpm') ? 8 : 0, map.endsWith('Lpm') ? 16 : 8), 'hex');
  return littleEndian ? key.readUInt32LE(0) : key.readUInt32BE(0);
}

function prefixOf(map: EntryMap, keyHex: string, littleEndian: boolean): number {
  if (!map.endsWith('Lpm')) return map === 'v4Exact' ? 64 : 160;
  const key = Buffer.from(keyHex.slice(0, 8), 'hex');
  return littleEndian ? key.readUInt32LE(0) : key.readUInt32BE(0);
}

/** Plans a diff from `state` to `compiled`, or returns null when a swap is needed. */
export function planDiff(state: DiffState | null, compiled: CompiledRules, littleEndian: boolean): DiffPlan | null {
  if (!state) return null;
  if (entryCount(compiled) > DIFF_MAX_ENTRIES) return null;
  if (compiled.globalDefault !== state.globalDefault || appDefaultsKey(compiled) !== state.appDefaults) return null;

  // New sets get fresh ids after the ones the kernel has; equal sets keep theirs.
  const setIds = new Map(state.setIds);
  let setCount = state.setCount;
  const remap: number[] = [];
  const newSets: number[] = [];
  compiled.setKeys.forEach((key, id) => {
    let kernelId = setIds.get(key);
    if (kernelId === undefined) {
      kernelId = setCount++;
      setIds.set(key, kernelId);
      newSets.push(id);
    }
    remap[id] = kernelId;
  });
  if (setCount > state.capacities.sets) return null;

  type Change = { map: EntryMap; key: string; value?: Buffer; prefix: number };
  const upserts: Change[] = [];
  const deletes: Change[] = [];
  const scopes = new Set<number>();
  const entries = {} as DiffState['entries'];
  for (const map of ENTRY_MAPS) {
    const image = compiled[map];
    if (image.count > state.capacities[map]) return null;
    const now = new Map<string, Buffer>();
    for (let i = 0; i < image.count; i++) {
      const key = image.keys.toString('hex', i * KEY_SIZE[map], (i + 1) * KEY_SIZE[map]);
      const value = Buffer.from(image.values.subarray(i * ENTRY_BYTES, (i + 1) * ENTRY_BYTES));
      const setId = littleEndian ? value.readUInt32LE(4) : value.readUInt32BE(4);
      if (setId !== NO_SET) writeU32(value, 4, remap[setId]!, littleEndian);
      now.set(key, value);
      const before = state.entries[map].get(key);
      if (!before || !before.equals(value)) {
        upserts.push({ map, key, value, prefix: prefixOf(map, key, littleEndian) });
        scopes.add(scopeOf(map, key, littleEndian));
      }
    }
    for (const key of state.entries[map].keys()) {
      if (!now.has(key)) {
        deletes.push({ map, key, prefix: prefixOf(map, key, littleEndian) });
        scopes.add(scopeOf(map, key, littleEndian));
      }
    }
    entries[map] = now;
  }
  if (scopes.size > 1) return null;

  const steps: DiffStep[] = [];
  if (newSets.length > 0) {
    const keys = Buffer.alloc(newSets.length * 4);
    const values = Buffer.alloc(newSets.length * SET_BYTES);
    newSets.forEach((id, i) => {
      writeU32(keys, i * 4, remap[id]!, littleEndian);
      compiled.sets.values.copy(values, i * SET_BYTES, id * SET_BYTES, (id + 1) * SET_BYTES);
    });
    steps.push({ map: 'sets', op: 'upsert', keys, values });
  }
  // Most specific first for upserts, least specific first for deletes; one step per change keeps
  // that order exact across maps (diffs are small by construction).
  upserts.sort((a, b) => b.prefix - a.prefix);
  deletes.sort((a, b) => a.prefix - b.prefix);
  for (const c of upserts) steps.push({ map: c.map, op: 'upsert', keys: Buffer.from(c.key, 'hex'), values: c.value });
  for (const c of deletes) steps.push({ map: c.map, op: 'delete', keys: Buffer.from(c.key, 'hex') });

  return {
    steps,
    written: upserts.length + newSets.length,
    deleted: deletes.length,
    next: { entries, setIds, setCount, capacities: state.capacities, globalDefault: state.globalDefault, appDefaults: state.appDefaults },
  };
}
