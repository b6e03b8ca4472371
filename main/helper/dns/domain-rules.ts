// Domain rules in the kernel: the kernel matches addresses, so a rule for example.com becomes one
// address rule per address that example.com (or, when the rule says so, a name under it) resolved
// to in an answer an application received, for that answer's TTL. The rules engine compiles the
// address rules produced here like any other, under the domain rule's id. Each rule holds at most
// MAX_ADDRESSES_PER_RULE addresses, the least recently answered going first: a name that resolves to
// ever more addresses (or a flood of answers under a subdomain rule) cannot grow the kernel's rules
// without bound.
import type { Rule } from '../../contract/index.js';
import { nameIsUnder, type DnsNames, type ResolvedAddress } from './dns-names.js';

type DomainRule = Rule & { remote: { kind: 'domain' } };

export const MAX_ADDRESSES_PER_RULE = 256;

/** An address a domain rule stands for right now. */
export interface DomainRuleAddress extends ResolvedAddress {
  ruleId: number;
}

interface HeldAddresses {
  rule: DomainRule;
  /** By address, least recently answered first. */
  addresses: Map<string, ResolvedAddress>;
}

export class DomainRuleAddresses {
  private rules: DomainRule[] = [];
  private signature: string | null = null;
  /** Exact names -> rules; names under a domain are found by walking up a name's labels. */
  private readonly exact = new Map<string, DomainRule[]>();
  private readonly withSubdomains = new Map<string, DomainRule[]>();
  /** Each rule's addresses, by rule id. */
  private readonly held = new Map<number, HeldAddresses>();

  constructor(
    private readonly names: DnsNames,
    private readonly maxPerRule = MAX_ADDRESSES_PER_RULE,
  ) {}

  /** Addresses held for all rules. */
  get size(): number {
    let count = 0;
    for (const { addresses } of this.held.values()) count += addresses.size;
    return count;
  }

  /**
   * Replaces the domain rules (enabled ones; others are ignored) and re-resolves them from the names
   * already known: a rule added after an app resolved the name applies at once. Unchanged rules
   * (same ids and update times) keep their addresses without a rebuild.
   */
  setRules(rules: readonly Rule[], now: number): void {
    const domainRules = rules.filter((rule): rule is DomainRule => rule.enabled && rule.remote.kind === 'domain');
    const signature = domainRules.map((rule) => `${rule.id}:${rule.updatedAt}`).join(',');
    if (signature === this.signature) return;
    this.signature = signature;
    this.rules = domainRules;
    this.exact.clear();
    this.withSubdomains.clear();
    this.held.clear();
    for (const rule of this.rules) {
      const index = rule.remote.subdomains ? this.withSubdomains : this.exact;
      const list = index.get(rule.remote.name) ?? [];
      list.push(rule);
      index.set(rule.remote.name, list);
    }
    // One pass over the known names (each checked against the index), not one per rule; oldest
    // answers first, so that a rule over its cap keeps the latest.
    if (this.rules.length > 0) this.learn([...this.names.resolved(now)].sort((a, b) => a.answeredAt - b.answeredAt));
  }

  /**
   * Takes addresses just resolved; true when a rule's addresses changed (one gained, or one pushed
   * out by the cap): the kernel rules must be re-applied.
   */
  learn(resolved: readonly ResolvedAddress[]): boolean {
    let changed = false;
    for (const address of resolved) {
      for (const rule of this.rulesFor(address.name)) changed = this.enter(rule, address) || changed;
    }
    return changed;
  }

  /** Drops addresses whose TTL ran out; true when any went. */
  expire(now: number): boolean {
    let removed = false;
    for (const { addresses } of this.held.values()) {
      for (const [text, address] of addresses) {
        if (address.expiresAt > now) continue;
        addresses.delete(text);
        removed = true;
      }
    }
    return removed;
  }

  /** When the next address runs out (for the engine's timer), or null. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const address of this.all()) if (next === null || address.expiresAt < next) next = address.expiresAt;
    return next;
  }

  /** Every address the rules stand for, each with its rule's id. */
  list(): DomainRuleAddress[] {
    return [...this.all()];
  }

  /** Address rules standing for the domain rules right now, each with its domain rule's id. */
  addressRules(): Rule[] {
    const rules: Rule[] = [];
    for (const { rule, addresses } of this.held.values()) {
      for (const address of addresses.values()) {
        rules.push({
          ...rule,
          remote: {
            kind: 'address',
            family: address.family,
            text: address.address,
            address: address.address,
            prefixLen: address.family === 4 ? 32 : 128,
          },
        });
      }
    }
    return rules;
  }

  private *all(): Iterable<DomainRuleAddress> {
    for (const [ruleId, { addresses }] of this.held)
      for (const address of addresses.values()) yield { ruleId, ...address };
  }

  private rulesFor(name: string): DomainRule[] {
    const found = [...(this.exact.get(name) ?? [])];
    // "a.b.example.com" is under "a.b.example.com", "b.example.com", "example.com" and "com".
    for (let at = -1; at < name.length; at = name.indexOf('.', at + 1)) {
      const suffix = name.slice(at + 1);
      for (const rule of this.withSubdomains.get(suffix) ?? [])
        if (nameIsUnder(name, rule.remote.name)) found.push(rule);
      if (name.indexOf('.', at + 1) === -1) break;
    }
    return found;
  }

  /** Holds `address` for `rule` as its most recently answered; true when the rule's set of addresses changed. */
  private enter(rule: DomainRule, address: ResolvedAddress): boolean {
    let held = this.held.get(rule.id);
    if (!held) this.held.set(rule.id, (held = { rule, addresses: new Map() }));
    const { addresses } = held;
    const existing = addresses.get(address.address);
    addresses.delete(address.address);
    if (existing) {
      // Known: it moves to the back, and keeps the later of the two expiries (no kernel change).
      const later = existing.expiresAt >= address.expiresAt ? existing : address;
      addresses.set(address.address, { ...later, answeredAt: Math.max(existing.answeredAt, address.answeredAt) });
      return false;
    }
    addresses.set(address.address, address);
    if (addresses.size > this.maxPerRule) addresses.delete(addresses.keys().next().value!);
    return true;
  }
}
