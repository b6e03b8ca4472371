// Entries of the exact, LPM and v6 prefix maps (struct pcl_entry values under their keys), packed
// straight into the buffers the kernel is filled from.
import * as byteOrder from './byte-order.js';
import * as layout from './layout.js';
import type { EntryMap, KeyLayout } from './layout.js';
import type { GrowingImage, MapImage } from './types.js';

// Module-local bindings: the per-entry code reads these a million times per compile, and a loader
// that compiles ES modules (tsx, as tests and benchmarks run) makes each imported name a getter.
const { HOST_LE, swap32 } = byteOrder;
const { ENTRY_BYTES, KEY_BYTES, KEY_LAYOUT } = layout;

/** A zeroed buffer of `bytes` (a multiple of 4) and a u32 view of the same memory. */
export function wordBuffer(bytes: number): { buffer: Buffer; words: Uint32Array } {
  const words = new Uint32Array(bytes / 4);
  return { buffer: Buffer.from(words.buffer, 0, bytes), words };
}

/** Accumulates map entries of one kind (exact or LPM, v4 or v6), growing as needed. */
export class EntryWriter {
  private keys: Buffer;
  private values: Buffer;
  private keyWords: Uint32Array;
  private valueWords: Uint32Array;
  count = 0;

  private readonly keySize: number;
  private readonly layout: KeyLayout;

  constructor(
    map: EntryMap,
    capacity: number,
    private readonly littleEndian: boolean,
  ) {
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
  add(
    scope: number,
    words: Uint32Array,
    at: number,
    wordCount: number,
    prefix: number,
    ruleId: number,
    ports: number,
    codes: number,
    setId: number,
  ): number {
    if (this.count * ENTRY_BYTES === this.values.length) this.grow();
    writeEntryKey(
      this.keyWords,
      (this.count * this.keySize) / 4,
      this.layout,
      scope,
      words,
      at,
      wordCount,
      prefix,
      this.littleEndian,
    );
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
    return {
      count: this.count,
      keys: this.keys.subarray(0, this.count * this.keySize),
      values: this.values.subarray(0, this.count * ENTRY_BYTES),
    };
  }

  /**
   * The image this writer will have once it holds `total` entries, of which the ones written so
   * far are final: the same buffers image() gives then. null if they would not fit (it grows).
   */
  growingImage(total: number): GrowingImage | null {
    if (total * ENTRY_BYTES > this.values.length) return null;
    return {
      count: total,
      ready: this.count,
      keys: this.keys.subarray(0, total * this.keySize),
      values: this.values.subarray(0, total * ENTRY_BYTES),
    };
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
export function writeEntryKey(
  k: Uint32Array,
  at: number,
  layout: KeyLayout,
  scope: number,
  words: Uint32Array,
  from: number,
  wordCount: number,
  prefix: number,
  littleEndian: boolean,
): void {
  const native = littleEndian === HOST_LE;
  let i = at;
  if (layout === 'lpm') k[i++] = native ? 32 + prefix : swap32(32 + prefix);
  k[i++] = native ? scope : swap32(scope);
  if (layout === 'prefix') k[i++] = native ? prefix : swap32(prefix);
  for (let w = 0; w < wordCount; w++) k[i + w] = HOST_LE ? swap32(words[from + w]!) : words[from + w]!;
}

/** The sweep's writers: full-length keys, trie prefixes, and hashed prefixes (v6; the trie's for v4). */
export interface Writers {
  exact: EntryWriter;
  lpm: EntryWriter;
  prefix: EntryWriter;
}
