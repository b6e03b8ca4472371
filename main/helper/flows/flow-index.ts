// Finds a flow's slot by its key (app, remote address, port, protocol, direction) without a string
// per flow: an open-addressing hash table of slot numbers in one Int32Array, hashing and comparing
// the key columns the slots already hold. A string key per flow cost ~200 bytes of heap (the key's
// concatenations stay alive as a tree of strings) plus its Map entry; this costs 8-16 bytes a flow.
// Remote addresses are compared as ids from InternedStrings, one text per distinct address.

/** The key columns the index reads (the tracker's flow columns; they may be replaced as they grow). */
export interface FlowKeyColumns {
  readonly appId: Uint32Array;
  readonly addrId: Uint32Array;
  readonly remotePort: Uint16Array;
  readonly protocol: Uint8Array;
  readonly outbound: Uint8Array;
}

const INITIAL_CAPACITY = 2048;

/** A 32-bit mix of the key's fields (murmur3's finalizer steps between them). */
function hashKey(appId: number, addrId: number, remotePort: number, protocol: number, outbound: number): number {
  let h = Math.imul(appId ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 15) ^ addrId, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 13) ^ (remotePort | (protocol << 16) | (outbound << 18)), 0x27d4eb2d);
  return h ^ (h >>> 16);
}

export class FlowIndex {
  /** slot + 1 at each position, 0 where empty; linear probing, at most half full. */
  private table = new Int32Array(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  size = 0;

  constructor(private readonly columns: FlowKeyColumns) {}

  /** The slot holding this key, or -1. */
  find(appId: number, addrId: number, remotePort: number, protocol: number, outbound: number): number {
    const c = this.columns;
    const table = this.table;
    for (let at = hashKey(appId, addrId, remotePort, protocol, outbound) & this.mask; ; at = (at + 1) & this.mask) {
      const entry = table[at]!;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (
        c.appId[slot] === appId &&
        c.addrId[slot] === addrId &&
        c.remotePort[slot] === remotePort &&
        c.protocol[slot] === protocol &&
        c.outbound[slot] === outbound
      )
        return slot;
    }
  }

  /** Adds a slot whose key columns are written and not in the index yet. */
  insert(slot: number): void {
    if ((this.size + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    this.place(slot);
    this.size++;
  }

  /** Removes a slot (its key columns still hold its key). */
  remove(slot: number): void {
    const table = this.table;
    const mask = this.mask;
    let hole = this.home(slot);
    while (table[hole] !== slot + 1) {
      if (table[hole] === 0) throw new Error(`flow index: slot ${slot} is not in the index`);
      hole = (hole + 1) & mask;
    }
    // Backward shift: later entries of the probe run move into the hole if their home allows it,
    // so lookups never need tombstones.
    for (let next = (hole + 1) & mask; table[next] !== 0; next = (next + 1) & mask) {
      const home = this.home(table[next]! - 1);
      const reachable = hole <= next ? home <= hole || home > next : home <= hole && home > next;
      if (reachable) {
        table[hole] = table[next]!;
        hole = next;
      }
    }
    table[hole] = 0;
    this.size--;
  }

  /** Calls `visit` with each slot in the index (the index must not change meanwhile). */
  forEach(visit: (slot: number) => void): void {
    const table = this.table;
    for (let at = 0; at < table.length; at++) if (table[at] !== 0) visit(table[at]! - 1);
  }

  private home(slot: number): number {
    const c = this.columns;
    return (
      hashKey(c.appId[slot]!, c.addrId[slot]!, c.remotePort[slot]!, c.protocol[slot]!, c.outbound[slot]!) & this.mask
    );
  }

  private place(slot: number): void {
    let at = this.home(slot);
    while (this.table[at] !== 0) at = (at + 1) & this.mask;
    this.table[at] = slot + 1;
  }

  private rehash(capacity: number): void {
    const old = this.table;
    this.table = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (const entry of old) if (entry !== 0) this.place(entry - 1);
  }
}

/**
 * Strings shared by many flows (remote addresses), each held once with a count of its users and
 * known by a small id; an id is reused once its last user is gone.
 */
export class InternedStrings {
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  private readonly users: number[] = [];
  private readonly free: number[] = [];

  /** The id of `text` if some user holds it, else -1. */
  idOf(text: string): number {
    return this.ids.get(text) ?? -1;
  }

  /** The id of `text`, counting one more user. */
  hold(text: string): number {
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.free.pop() ?? this.texts.length;
      this.texts[id] = text;
      this.users[id] = 0;
      this.ids.set(text, id);
    }
    this.users[id]!++;
    return id;
  }

  /** One user of `id` is gone; the text goes with its last. */
  release(id: number): void {
    if (--this.users[id]! > 0) return;
    this.ids.delete(this.texts[id]!);
    this.texts[id] = '';
    this.free.push(id);
  }

  text(id: number): string {
    return this.texts[id]!;
  }

  get size(): number {
    return this.ids.size;
  }
}
