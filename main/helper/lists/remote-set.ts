// A set of canonical remotes, for telling what an import or an update already has. Most entries
// of big lists are bare IPv4 addresses: those go in an open-addressed table of u32s (a JS Set of a
// million strings measured three times slower and several times larger); the rest in a Set.

const CHAR_0 = 48;
const CHAR_DOT = 46;

/** The u32 of a canonical dotted quad (a stored entry), or -1 for anything else. */
export function ipv4Value(text: string): number {
  const n = text.length;
  if (n < 7 || n > 15) return -1;
  let value = 0;
  let part = 0;
  let dots = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === CHAR_DOT) {
      value = value * 256 + part;
      part = 0;
      dots++;
    } else if (c >= CHAR_0 && c <= CHAR_0 + 9) part = part * 10 + (c - CHAR_0);
    else return -1;
  }
  return dots === 3 && part <= 255 ? value * 256 + part : -1;
}

export class RemoteSet {
  /** Slots hold value + 1 (0 = empty), as u32 bits in an Int32Array; 0.0.0.0 would be 1 and 255.255.255.255 wraps to 0, kept apart. */
  private table = new Int32Array(1024);
  /** Slot of a key: the top bits of a multiplicative hash (its low bits repeat the key's low bits). */
  private shift = 32 - 10;
  private v4Count = 0;
  private hasAllOnes = false;
  private readonly others = new Set<string>();

  get size(): number {
    return this.v4Count + (this.hasAllOnes ? 1 : 0) + this.others.size;
  }

  /** Adds a remote; false when it was already there. */
  add(remote: string): boolean {
    const value = ipv4Value(remote);
    if (value < 0) {
      if (this.others.has(remote)) return false;
      this.others.add(remote);
      return true;
    }
    if (value === 0xffffffff) {
      if (this.hasAllOnes) return false;
      return (this.hasAllOnes = true);
    }
    if ((this.v4Count + 1) * 2 > this.table.length) this.grow();
    return this.place(this.table, (value + 1) | 0);
  }

  has(remote: string): boolean {
    const value = ipv4Value(remote);
    if (value < 0) return this.others.has(remote);
    if (value === 0xffffffff) return this.hasAllOnes;
    const key = (value + 1) | 0;
    const table = this.table;
    const mask = table.length - 1;
    for (let h = Math.imul(key, 0x9e3779b1) >>> this.shift; ; h = (h + 1) & mask) {
      if (table[h] === 0) return false;
      if (table[h] === key) return true;
    }
  }

  private place(table: Int32Array, key: number): boolean {
    const mask = table.length - 1;
    const shift = 32 - Math.log2(table.length);
    for (let h = Math.imul(key, 0x9e3779b1) >>> shift; ; h = (h + 1) & mask) {
      const slot = table[h]!;
      if (slot === key) return false;
      if (slot === 0) {
        table[h] = key;
        if (table === this.table) this.v4Count++;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.table;
    const table = new Int32Array(old.length * 2);
    for (let i = 0; i < old.length; i++) if (old[i] !== 0) this.place(table, old[i]!);
    this.table = table;
    this.shift--;
  }
}
