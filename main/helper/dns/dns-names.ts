// Which names each remote address was reached by, learnt from the DNS answers applications
// received, and which addresses each name resolved to, each for as long as its TTL allows.
// Bounded in size: the oldest-expiring entries go first when it is full.
import type { Resolution } from './dns-message.js';

/** A TTL-0 answer is still used for the connect that follows it; rules and names must outlast that. */
export const MIN_TTL_SEC = 30;
/**
 * The longest an answer is believed: a TTL of years (2^31 s is allowed on the wire) must not tie
 * an address to a name, or keep it in a domain rule, until the helper restarts.
 */
export const MAX_TTL_SEC = 86_400;
/** Names stay for display a while after their TTL: applications keep using addresses past it. */
export const DISPLAY_GRACE_MS = 10 * 60_000;
export const DEFAULT_MAX_ADDRESSES = 50_000;

/** How long the TTL of an answer lets it stand, in seconds. */
export function clampTtl(ttlSec: number): number {
  return Math.min(Math.max(ttlSec, MIN_TTL_SEC), MAX_TTL_SEC);
}

interface NameRecord {
  /** When the record expires (ms since epoch). */
  expiresAt: number;
  /** When an answer last gave it (ms since epoch). */
  answeredAt: number;
}

interface AddressEntry {
  family: 4 | 6;
  names: Map<string, NameRecord>;
  /** The name the application asked for most recently. */
  displayName: string;
  displayUntil: number;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
  /** The name (of those asked) the address was learnt under. */
  name: string;
  expiresAt: number;
  /** When an answer last gave this address for this name. */
  answeredAt: number;
}

export class DnsNames {
  private readonly byAddress = new Map<string, AddressEntry>();
  private readonly byName = new Map<string, Set<string>>();
  private readonly maxAddresses: number;

  constructor(options: { maxAddresses?: number } = {}) {
    this.maxAddresses = options.maxAddresses ?? DEFAULT_MAX_ADDRESSES;
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** Enters the addresses one response resolved; returns them with their expiry, for domain rules. */
  record(resolutions: Resolution[], now: number): ResolvedAddress[] {
    const entered: ResolvedAddress[] = [];
    for (const resolution of resolutions) {
      const expiresAt = now + clampTtl(resolution.ttl) * 1000;
      let entry = this.byAddress.get(resolution.address);
      if (!entry) {
        if (this.byAddress.size >= this.maxAddresses) this.evict(now);
        entry = { family: resolution.family, names: new Map(), displayName: resolution.names[0]!, displayUntil: 0 };
        this.byAddress.set(resolution.address, entry);
      }
      entry.displayName = resolution.names[0]!;
      entry.displayUntil = Math.max(entry.displayUntil, expiresAt + DISPLAY_GRACE_MS);
      for (const name of resolution.names) {
        const known = entry.names.get(name);
        const record = { expiresAt: Math.max(known?.expiresAt ?? 0, expiresAt), answeredAt: now };
        entry.names.set(name, record);
        let addresses = this.byName.get(name);
        if (!addresses) this.byName.set(name, (addresses = new Set()));
        addresses.add(resolution.address);
        entered.push({ address: resolution.address, family: resolution.family, name, ...record });
      }
    }
    return entered;
  }

  /** The name an application used to reach this address, or null when no answer named it (recently). */
  nameOf(address: string, now: number): string | null {
    const entry = this.byAddress.get(address);
    return entry && entry.displayUntil > now ? entry.displayName : null;
  }

  /** Addresses that `domain` (and, with `subdomains`, every name under it) resolves to right now. */
  addressesOf(domain: string, subdomains: boolean, now: number): ResolvedAddress[] {
    const out: ResolvedAddress[] = [];
    const collect = (name: string) => {
      for (const address of this.byName.get(name) ?? []) {
        const entry = this.byAddress.get(address);
        const record = entry?.names.get(name);
        if (entry && record && record.expiresAt > now) out.push({ address, family: entry.family, name, ...record });
      }
    };
    if (!subdomains) collect(domain);
    else for (const name of this.byName.keys()) if (nameIsUnder(name, domain)) collect(name);
    return out;
  }

  /** Every name with an unexpired address, once per (name, address). */
  *resolved(now: number): Iterable<ResolvedAddress> {
    for (const [name, addresses] of this.byName) {
      for (const address of addresses) {
        const entry = this.byAddress.get(address);
        const record = entry?.names.get(name);
        if (entry && record && record.expiresAt > now) yield { address, family: entry.family, name, ...record };
      }
    }
  }

  /** Drops names whose TTL and display grace have passed; returns how many addresses went. */
  sweep(now: number): number {
    let removed = 0;
    for (const [address, entry] of this.byAddress) {
      for (const [name, { expiresAt }] of entry.names) {
        if (expiresAt > now) continue;
        entry.names.delete(name);
        this.unindex(name, address);
      }
      if (entry.names.size === 0 && entry.displayUntil <= now) {
        this.byAddress.delete(address);
        removed++;
      }
    }
    return removed;
  }

  private unindex(name: string, address: string): void {
    const addresses = this.byName.get(name);
    if (!addresses) return;
    addresses.delete(address);
    if (addresses.size === 0) this.byName.delete(name);
  }

  /** Makes room: expired entries first, else the tenth that expires soonest. */
  private evict(now: number): void {
    if (this.sweep(now) > 0 && this.byAddress.size < this.maxAddresses) return;
    const byExpiry = [...this.byAddress].sort((a, b) => a[1].displayUntil - b[1].displayUntil);
    for (const [address, entry] of byExpiry.slice(0, Math.max(1, Math.floor(this.maxAddresses / 10)))) {
      for (const name of entry.names.keys()) this.unindex(name, address);
      this.byAddress.delete(address);
    }
  }
}

/** True when `name` is `domain` or a name under it ("a.example.com" is under "example.com"; "badexample.com" is not). */
export function nameIsUnder(name: string, domain: string): boolean {
  return (
    name === domain ||
    (name.length > domain.length && name.endsWith(domain) && name[name.length - domain.length - 1] === '.')
  );
}
