// The addresses every contender blocks: the same N addresses for iptables, nftables and Portcullis.
// Taken from 240.0.0.0/4 (reserved, never routed), so no benchmark traffic ever matches them and
// every packet pays for a full search of the rules.

/** The i-th blocked IPv4 address (i < 2^28), dotted quad. */
export function blockedAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= 1 << 28)
    throw new Error(`blocked address index must be 0..2^28-1, got ${i}`);
  const value = ((240 << 24) >>> 0) + i + 1;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function blockedAddresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => blockedAddress(i));
}
