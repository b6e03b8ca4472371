// Byte order of the maps' keys and values: the compiler writes u32s in the kernel's order (the
// host's, unless a test asks for the other) through host-order typed arrays.

/** The host is little-endian: u32s can be stored through host-order arrays as they are. */
export const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function writeU32(buf: Buffer, at: number, value: number, littleEndian: boolean): void {
  if (littleEndian) buf.writeUInt32LE(value, at);
  else buf.writeUInt32BE(value, at);
}

/**
 * The u32 with its bytes reversed, as an int32 (the same bits in a Uint32Array store): a u32
 * above 2^31 is a fresh heap number whenever it is returned from a call that is not inlined,
 * which was over a million of them per compile for the address words alone.
 */
export function swap32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}
