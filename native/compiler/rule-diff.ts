// Rule changes as an in-place diff of the active generation's maps, instead of a swap of fresh
// maps (which costs several RCU grace periods and a fill of every entry). Pure: orders the
// changes the compiler produced into steps, the addon runs them.
//
// Why the order keeps "blocked in both old and new => blocked throughout": within one scope the
// kernel decides by the longest present prefix. Upserts go most specific first and deletes least
// specific first, so whatever entry a lookup finds is the longest match of either the old or the
// new ruleset, and its clauses (written complete, sets before the entries that use them) give
// that ruleset's answer. v6 prefixes of v6_split bits or more are a hash, not a trie: a lookup
// probes the lengths its bucket names. Buckets therefore gain lengths before any entry is written
// and lose them only after the deletes, so a bucket always names every length that has an entry
// under it (a length without one is a wasted probe), and the hash behaves as the trie would: the
// same argument holds. Changes spanning several scopes (the kernel consults the app's scope,
// then the global one), or defaults, go as a swap instead.
import { BUCKET_KEY_BYTES, ENTRY_BYTES, KEY_BYTES, type RuleMap } from './layout.js';
import type { CompiledChange, EntryChange } from './types.js';

/** A change touching more keys than this (and more than half the entries) is cheaper as a swap. */
const DIFF_MIN_SWAP_KEYS = 4096;

export type Capacities = Record<RuleMap | 'sets', number>;

/**
 * Inner-map capacity for a swap, with headroom for later diffs. LPM tries allocate per element
 * (headroom is free); the hashes (exact, v6 prefix, v6 bucket) and the set array are
 * preallocated (inserting into a preallocated hash measured ~1.5-2x faster), so their headroom
 * is kept modest — except when a swap happens because a map ran full (`growing`): then half
 * again, so a growing ruleset (an import in chunks) swaps O(log n) times, not once per few chunks.
 */
export function capacityFor(map: RuleMap | 'sets', count: number, growing = false): number {
  if (map === 'sets') return count + Math.max(1024, growing ? count >> 1 : 0); // 200 bytes a slot
  if (map !== 'v4Lpm' && map !== 'v6Lpm') return count + Math.max(1024, growing ? count >> 1 : count >> 3);
  return count + Math.max(4096, growing ? count : count >> 2);
}

export interface DiffStep {
  map: RuleMap | 'sets';
  op: 'upsert' | 'delete';
  keys: Buffer;
  values?: Buffer;
}

export interface DiffPlan {
  steps: DiffStep[];
  written: number;
  deleted: number;
}

/** Why a compiled change cannot go in place, or null when it can. */
export function swapReason(change: CompiledChange, capacities: Capacities, entriesBefore: number): string | null {
  if (change.setSpan > capacities.sets) return 'the clause set array is full';
  for (const map of Object.keys(change.counts) as RuleMap[]) {
    if (change.counts[map] > capacities[map]) return `${map} is full`;
  }
  const scopes = new Set(change.entries.map((e) => e.scope));
  if (scopes.size > 1) return 'the change spans several scopes';
  if (change.entries.length > DIFF_MIN_SWAP_KEYS && change.entries.length * 2 > entriesBefore)
    return 'the change rewrites most entries';
  return null;
}

/**
 * Steps in a safe order: new sets first, then the v6 buckets' gained lengths (each bucket: its
 * lengths before and after, together), then upserts most specific first, then deletes least
 * specific first, then the buckets' final lengths. Changes of one map at one prefix length share
 * a step (one batch call): no lookup can match two keys of one length, so their order among
 * themselves does not matter; nor does that of buckets (a lookup reads one).
 */
export function planDiff(change: CompiledChange): DiffPlan {
  const steps: DiffStep[] = [];
  if (change.sets.ids.length > 0)
    steps.push({ map: 'sets', op: 'upsert', keys: change.sets.ids, values: change.sets.values });
  const gaining = change.buckets.filter((b) => b.after !== null && !subsetOf(b.after, b.before));
  if (gaining.length > 0) {
    steps.push({
      map: 'v6Buckets',
      op: 'upsert',
      keys: Buffer.concat(gaining.map((b) => b.key)),
      values: Buffer.concat(gaining.map((b) => union(b.before, b.after!))),
    });
  }
  const upserts = change.entries
    .filter((e) => e.value !== null)
    .sort((a, b) => b.rank - a.rank || a.map.localeCompare(b.map));
  const deletes = change.entries
    .filter((e) => e.value === null)
    .sort((a, b) => a.rank - b.rank || a.map.localeCompare(b.map));
  const batch = (run: EntryChange[], op: DiffStep['op']): void => {
    const first = run[0]!;
    const keys = Buffer.alloc(run.length * KEY_BYTES[first.map]);
    run.forEach((e, i) => e.key.copy(keys, i * KEY_BYTES[first.map]));
    if (op === 'delete') {
      steps.push({ map: first.map, op, keys });
      return;
    }
    const values = Buffer.alloc(run.length * ENTRY_BYTES);
    run.forEach((e, i) => e.value!.copy(values, i * ENTRY_BYTES));
    steps.push({ map: first.map, op, keys, values });
  };
  for (const [list, op] of [
    [upserts, 'upsert'],
    [deletes, 'delete'],
  ] as const) {
    let start = 0;
    for (let i = 1; i <= list.length; i++) {
      if (i === list.length || list[i]!.rank !== list[start]!.rank || list[i]!.map !== list[start]!.map) {
        batch(list.slice(start, i), op);
        start = i;
      }
    }
  }
  const shrinking = change.buckets.filter((b) => b.after !== null && !subsetOf(b.before ?? b.after, b.after));
  if (shrinking.length > 0)
    steps.push({
      map: 'v6Buckets',
      op: 'upsert',
      keys: Buffer.concat(shrinking.map((b) => b.key)),
      values: Buffer.concat(shrinking.map((b) => b.after!)),
    });
  const emptied = change.buckets.filter((b) => b.after === null);
  if (emptied.length > 0)
    steps.push({
      map: 'v6Buckets',
      op: 'delete',
      keys: Buffer.concat(
        emptied.map((b) => b.key),
        emptied.length * BUCKET_KEY_BYTES,
      ),
    });
  const bucketWrites = gaining.length + shrinking.length;
  return {
    steps,
    written: upserts.length + change.sets.ids.length / 4 + bucketWrites,
    deleted: deletes.length + emptied.length,
  };
}

/** Are the lengths of bitmap `a` all in `b` (null = none)? */
function subsetOf(a: Buffer, b: Buffer | null): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i]! & ~(b?.[i] ?? 0)) !== 0) return false;
  return true;
}

function union(a: Buffer | null, b: Buffer): Buffer {
  const out = Buffer.from(b);
  if (a) for (let i = 0; i < out.length; i++) out[i]! |= a[i]!;
  return out;
}
