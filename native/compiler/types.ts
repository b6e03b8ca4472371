// What the compiler produces: images of fresh maps for a swap, and the entries, sets and buckets
// a change writes in place (see rule-diff.ts).
import type { EntryMap, RuleMap } from './layout.js';

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

/** One clause as the kernel stores it (struct pcl_clause), in codes. */
export interface Clause {
  ruleId: number;
  portLo: number;
  portHi: number;
  proto: number;
  dir: number;
  action: number;
}

/** A bucket whose lengths a change altered: its key and bitmap (BUCKET_BYTES) before and after, null = none. */
export interface BucketChange {
  key: Buffer;
  before: Buffer | null;
  after: Buffer | null;
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
