// IPv6 prefixes of at least `split` bits live in a hash probed by length (see portcullis.h): this
// keeps the bucket side of it, (scope, first `split` bits) -> bitmap of the prefix lengths present,
// exact under incremental changes by counting installed prefixes per (bucket, length), and
// chooses `split` for a ruleset.
import * as abi from '../abi.js';
import { writeU32 } from './byte-order.js';
import { BUCKET_BYTES, BUCKET_KEY_BYTES, V6_SPLIT_MAX } from './layout.js';
import type { BucketChange, MapImage } from './types.js';

// Module-local: written for every bucket (imported names are property loads, or getters under tsx).
const { scope: KEY_SCOPE, addr: KEY_ADDR } = abi.pcl_bucket6_key;

/**
 * Dense ids for tuples of `width` u32s: open addressing with linear probing on typed arrays (a JS
 * Map would need a string per tuple). Each bucket is a pair [id + 1, hash]: a probe passes other
 * tuples on their hash instead of fetching them (a cache miss each). Ids are never taken back;
 * the owner is rebuilt on a swap.
 */
class TupleIndex {
  private table = new Int32Array(2 * 1024); // pairs: id + 1 (0 = empty), hash
  private tuples: Uint32Array;
  size = 0;

  constructor(private readonly width: number) {
    this.tuples = new Uint32Array(width * 512);
  }

  /** Makes room for `more` tuples at once (one rehash and one copy, not a doubling cascade). */
  reserve(more: number): void {
    const wanted = this.size + more;
    if (wanted * this.width > this.tuples.length) this.tuples = widened(this.tuples, wanted * this.width);
    let buckets = this.table.length >> 1;
    while (wanted * 2 > buckets) buckets *= 2;
    if (buckets > this.table.length >> 1) this.rehash(buckets);
  }

  /** The id of `tuple` (its first `width` words), made if missing. */
  id(tuple: Uint32Array): number {
    const table = this.table;
    const mask = (table.length >> 1) - 1;
    const hash = this.hashOf(tuple, 0);
    let h = hash & mask;
    for (let entry = table[2 * h]!; entry !== 0; h = (h + 1) & mask, entry = table[2 * h]!) {
      if (table[2 * h + 1] === hash && this.isAt(entry - 1, tuple)) return entry - 1;
    }
    const id = this.size++;
    if (id * this.width === this.tuples.length) this.tuples = widened(this.tuples, this.tuples.length * 2);
    for (let w = 0; w < this.width; w++) this.tuples[id * this.width + w] = tuple[w]!;
    if (this.size * 2 > table.length >> 1) this.rehash(table.length);
    else {
      table[2 * h] = id + 1;
      table[2 * h + 1] = hash;
    }
    return id;
  }

  word(id: number, w: number): number {
    return this.tuples[id * this.width + w]!;
  }

  private hashOf(words: Uint32Array, at: number): number {
    let h = 0x811c9dc5;
    for (let w = 0; w < this.width; w++) h = Math.imul(h ^ words[at + w]! ^ (h >>> 15), 0x5bd1e995);
    return h ^ (h >>> 13);
  }

  private isAt(id: number, tuple: Uint32Array): boolean {
    for (let w = 0; w < this.width; w++) if (this.tuples[id * this.width + w] !== tuple[w]) return false;
    return true;
  }

  /** A table of `buckets` pairs holding every id. */
  private rehash(buckets: number): void {
    const table = new Int32Array(2 * buckets);
    const mask = buckets - 1;
    for (let id = 0; id < this.size; id++) {
      const hash = this.hashOf(this.tuples, id * this.width);
      let h = hash & mask;
      while (table[2 * h] !== 0) h = (h + 1) & mask;
      table[2 * h] = id + 1;
      table[2 * h + 1] = hash;
    }
    this.table = table;
  }
}

/**
 * The v6 buckets: per (scope, first `split` bits), which prefix lengths have entries in v6Prefix,
 * kept exact by counting installed keys per (bucket, length). Buckets a change altered remember
 * their bitmap from before it, so the change can be applied in a safe order (rule-diff.ts).
 */
export class V6Buckets {
  private readonly lengths = new TupleIndex(4); // (scope, word 0, word 1, length) -> id
  private keyCounts: Uint32Array = new Uint32Array(1024);
  private readonly buckets = new TupleIndex(3); // (scope, word 0, word 1) -> id
  private bits: Uint32Array = new Uint32Array(4 * 1024); // per bucket: bit (len % 32) of word (len >> 5)
  private readonly before = new Map<number, Uint32Array>();
  private readonly tuple = new Uint32Array(4);
  /**
   * A full compile's keys as tuples (scope, bucket words, length) in its sorted order, where a
   * bucket's keys are neighbours: the image is made from them in one pass, and the counting state
   * above only when a change first needs it. Hashing every key into it cost a tenth of a 1M compile.
   */
  private listed: Uint32Array | null = null;
  private listedCount = 0;
  /** Whether a listing compile's image was taken (its keys are all in). */
  private imaged = false;
  /** Buckets with any length. */
  count = 0;

  /** `listing`: for a full compile, whose keys all come (in sorted order) before the image is taken. */
  constructor(
    readonly split: number,
    private tracking: boolean,
    listing = false,
  ) {
    if (listing) this.listed = new Uint32Array(4 * 1024);
  }

  /** Makes room for `keys` more installed keys at once (a full compile knows how many). */
  reserve(keys: number): void {
    if (this.listed) {
      if ((this.listedCount + keys) * 4 > this.listed.length)
        this.listed = widened(this.listed, (this.listedCount + keys) * 4);
      return;
    }
    this.lengths.reserve(keys);
    this.buckets.reserve(keys);
    if (this.lengths.size + keys > this.keyCounts.length)
      this.keyCounts = widened(this.keyCounts, this.lengths.size + keys);
    if ((this.buckets.size + keys) * 4 > this.bits.length)
      this.bits = widened(this.bits, (this.buckets.size + keys) * 4);
  }

  /** An installed key of v6Prefix (scope, words at `at`, `len` bits) came (+1) or went (-1). */
  change(scope: number, words: Uint32Array, at: number, len: number, delta: 1 | -1): void {
    const t = this.tuple;
    const split = this.split;
    t[0] = scope;
    t[1] = split >= 32 ? words[at]! : (words[at]! & (~0 << (32 - split))) >>> 0;
    t[2] = split >= 64 ? words[at + 1]! : split <= 32 ? 0 : (words[at + 1]! & (~0 << (64 - split))) >>> 0;
    t[3] = len;
    if (this.listed && !this.imaged) {
      if (delta < 0) throw new Error('V6Buckets: a full compile only adds keys');
      if (this.listedCount * 4 === this.listed.length) this.listed = widened(this.listed, this.listed.length * 2);
      this.listed.set(t, 4 * this.listedCount++);
      return;
    }
    this.countKey(t, delta);
  }

  /** The counting state of the listed keys (see `listed`), made on first need. */
  private countListed(): void {
    const listed = this.listed;
    if (!listed) return;
    this.listed = null;
    const tracking = this.tracking;
    this.tracking = false;
    this.count = 0;
    this.reserve(this.listedCount);
    for (let i = 0; i < this.listedCount; i++) this.countKey(listed.subarray(4 * i, 4 * i + 4), 1);
    this.tracking = tracking;
  }

  /** Counts a key of the bucket and length in `t` (scope, bucket words, length). */
  private countKey(t: Uint32Array, delta: 1 | -1): void {
    this.countListed();
    const len = t[3]!;
    const id = this.lengths.id(t);
    if (id >= this.keyCounts.length) this.keyCounts = widened(this.keyCounts, id + 1);
    const keys = (this.keyCounts[id]! += delta);
    if (keys !== (delta > 0 ? 1 : 0)) return; // the length was there before and still is
    const bucket = this.buckets.id(t);
    if (bucket * 4 >= this.bits.length) this.bits = widened(this.bits, bucket * 4 + 4);
    const at4 = bucket * 4;
    if (this.tracking && !this.before.has(bucket)) this.before.set(bucket, this.bits.slice(at4, at4 + 4));
    const wasEmpty = this.isEmpty(at4);
    this.bits[at4 + (len >>> 5)]! ^= 1 << (len & 31);
    const isEmpty = this.isEmpty(at4);
    if (wasEmpty && !isEmpty) this.count++;
    else if (!wasEmpty && isEmpty) this.count--;
  }

  /** From now on, buckets remember their bitmap from before each change (after a full compile). */
  track(): void {
    this.tracking = true;
  }

  /** The buckets changed since the last call, with their bitmaps before and after. */
  takeChanges(littleEndian: boolean): BucketChange[] {
    this.countListed();
    const out: BucketChange[] = [];
    for (const [bucket, before] of this.before) {
      const after = this.bits.subarray(bucket * 4, bucket * 4 + 4);
      if (before.every((word, i) => word === after[i])) continue;
      const key = Buffer.alloc(BUCKET_KEY_BYTES);
      this.writeKey(bucket, key, 0, littleEndian);
      const bitmap = (words: Uint32Array): Buffer | null => {
        if (words.every((word) => word === 0)) return null;
        const value = Buffer.alloc(BUCKET_BYTES);
        writeBitmap(words, 0, value, 0, littleEndian);
        return value;
      };
      out.push({ key, before: bitmap(before), after: bitmap(after) });
    }
    this.before.clear();
    return out;
  }

  /** Every bucket with a length, for fresh maps. */
  image(littleEndian: boolean): MapImage {
    if (this.listed) return this.listedImage(littleEndian);
    const keys = Buffer.alloc(this.count * BUCKET_KEY_BYTES);
    const values = Buffer.alloc(this.count * BUCKET_BYTES);
    let n = 0;
    for (let bucket = 0; bucket < this.buckets.size; bucket++) {
      if (this.isEmpty(bucket * 4)) continue;
      this.writeKey(bucket, keys, n * BUCKET_KEY_BYTES, littleEndian);
      writeBitmap(this.bits, bucket * 4, values, n * BUCKET_BYTES, littleEndian);
      n++;
    }
    return { count: n, keys, values };
  }

  /** The image of a listing compile's keys: a bucket's keys are neighbours, so one pass merges their lengths. */
  private listedImage(littleEndian: boolean): MapImage {
    this.imaged = true;
    const listed = this.listed!;
    const n = this.listedCount;
    let buckets = 0;
    for (let i = 0; i < n; i++) if (i === 0 || !sameBucket(listed, i - 1, i)) buckets++;
    const keys = Buffer.alloc(buckets * BUCKET_KEY_BYTES);
    const values = Buffer.alloc(buckets * BUCKET_BYTES);
    const bits = new Uint32Array(4);
    let b = -1;
    for (let i = 0; i < n; i++) {
      if (i === 0 || !sameBucket(listed, i - 1, i)) {
        if (b >= 0) writeBitmap(bits, 0, values, b * BUCKET_BYTES, littleEndian);
        bits.fill(0);
        b++;
        writeBucketKey(
          listed[4 * i]!,
          listed[4 * i + 1]!,
          listed[4 * i + 2]!,
          keys,
          b * BUCKET_KEY_BYTES,
          littleEndian,
        );
      }
      const len = listed[4 * i + 3]!;
      bits[len >>> 5]! |= 1 << (len & 31);
    }
    if (b >= 0) writeBitmap(bits, 0, values, b * BUCKET_BYTES, littleEndian);
    this.count = buckets;
    return { count: buckets, keys, values };
  }

  private isEmpty(at4: number): boolean {
    const b = this.bits;
    return (b[at4]! | b[at4 + 1]! | b[at4 + 2]! | b[at4 + 3]!) === 0;
  }

  /** A counted bucket's key (see writeBucketKey). */
  private writeKey(bucket: number, buf: Buffer, at: number, littleEndian: boolean): void {
    writeBucketKey(
      this.buckets.word(bucket, 0),
      this.buckets.word(bucket, 1),
      this.buckets.word(bucket, 2),
      buf,
      at,
      littleEndian,
    );
  }
}

/** struct pcl_bucket6_key: the scope, and the address's first 64 bits in network order (two words). */
function writeBucketKey(
  scope: number,
  word0: number,
  word1: number,
  buf: Buffer,
  at: number,
  littleEndian: boolean,
): void {
  writeU32(buf, at + KEY_SCOPE, scope, littleEndian);
  buf.writeUInt32BE(word0, at + KEY_ADDR);
  buf.writeUInt32BE(word1, at + KEY_ADDR + 4);
}

/** Do listed keys i and j (scope, bucket words, length) fall in one bucket? */
function sameBucket(listed: Uint32Array, i: number, j: number): boolean {
  return (
    listed[4 * i] === listed[4 * j] &&
    listed[4 * i + 1] === listed[4 * j + 1] &&
    listed[4 * i + 2] === listed[4 * j + 2]
  );
}

function widened(old: Uint32Array, atLeast: number): Uint32Array {
  const next = new Uint32Array(Math.max(atLeast, old.length * 2));
  next.set(old);
  return next;
}

/** struct pcl_bucket6 {u64 lens[2]}: lens[i] = words 2i (low half) and 2i + 1 (high half). */
function writeBitmap(words: Uint32Array, from: number, buf: Buffer, at: number, littleEndian: boolean): void {
  for (let i = 0; i < 2; i++) {
    const low = words[from + 2 * i]!;
    const high = words[from + 2 * i + 1]!;
    if (littleEndian) {
      buf.writeUInt32LE(low, at + 8 * i);
      buf.writeUInt32LE(high, at + 8 * i + 4);
    } else {
      buf.writeUInt32BE(high, at + 8 * i);
      buf.writeUInt32BE(low, at + 8 * i + 4);
    }
  }
}

/**
 * pcl_config.v6_split for a ruleset: the shortest length at which at least 1/64 of the v6 CIDR
 * keys (all scopes) are that short or shorter, within 1..V6_SPLIT_MAX. The few shorter prefixes
 * stay in the trie (consulted only when the hashes find nothing); from the split on, a bucket
 * holds at most the distinct lengths of the ruleset at or past it, and typically one or two.
 */
export function chooseV6Split(perLength: Iterable<Uint32Array>): number {
  const histogram = new Float64Array(128);
  let total = 0;
  for (const counts of perLength) {
    for (let len = 0; len < 128; len++) {
      histogram[len]! += counts[len]!;
      total += counts[len]!;
    }
  }
  if (total === 0) return V6_SPLIT_MAX;
  let atOrBelow = 0;
  for (let len = 0; len < V6_SPLIT_MAX; len++) {
    atOrBelow += histogram[len]!;
    if (atOrBelow * 64 > total) return Math.max(1, len);
  }
  return V6_SPLIT_MAX;
}
