// Domain rules in the kernel: the kernel matches addresses, so a rule for example.com becomes one
// address rule per address that example.com (or, when the rule says so, a name under it) resolved
// to in an answer an application received, for that answer's TTL. The rules engine compiles the
// address rules produced here like any other, under the domain rule's id.
import type { Rule } from '../../contract/index.js';
import { nameIsUnder, type DnsNames, type ResolvedAddress } from './dns-names.js';

type DomainRule = Rule & { remote: { kind: 'domain' } };

export class DomainRuleAddresses {
  private rules: DomainRule[] = [];
  private signature: string | null = null;
  /** Exact names -> rules; names under a domain are found by walking up a name's labels. */
  private readonly exact = new Map<string, DomainRule[]>();
  private readonly withSubdomains = new Map<string, DomainRule[]>();
  /** `${ruleId} ${address}` -> the resolved address and until when it stands for the rule. */
  private readonly entries = new Map<string, { rule: DomainRule; address: ResolvedAddress }>();

  constructor(private readonly names: DnsNames) {}

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
    this.entries.clear();
    for (const rule of this.rules) {
      const index = rule.remote.subdomains ? this.withSubdomains : this.exact;
      const list = index.get(rule.remote.name) ?? [];
      list.push(rule);
      index.set(rule.remote.name, list);
    }
    // One pass over the known names (each checked against the index), not one per rule.
    if (this.rules.length > 0) this.learn([...this.names.resolved(now)]);
  }

  /** Takes addresses just resolved; true when a rule gained an address (the kernel rules must be re-applied). */
  learn(resolved: readonly ResolvedAddress[]): boolean {
    let added = false;
    for (const address of resolved) {
      for (const rule of this.rulesFor(address.name)) added = this.enter(rule, address) || added;
    }
    return added;
  }

  /** Drops addresses whose TTL ran out; true when any went. */
  expire(now: number): boolean {
    let removed = false;
    for (const [key, entry] of this.entries) {
      if (entry.address.expiresAt <= now) {
        this.entries.delete(key);
        removed = true;
      }
    }
    return removed;
  }

  /** When the next address runs out (for the engine's timer), or null. */
  nextExpiry(): number | null {
    let next: number | null = null;
    for (const { address } of this.entries.values())
      if (next === null || address.expiresAt < next) next = address.expiresAt;
    return next;
  }

  /** Address rules standing for the domain rules right now, each with its domain rule's id. */
  addressRules(): Rule[] {
    return [...this.entries.values()].map(({ rule, address }) => ({
      ...rule,
      remote: {
        kind: 'address',
        family: address.family,
        text: address.address,
        address: address.address,
        prefixLen: address.family === 4 ? 32 : 128,
      },
    }));
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

  private enter(rule: DomainRule, address: ResolvedAddress): boolean {
    const key = `${rule.id} ${address.address}`;
    const existing = this.entries.get(key);
    if (existing && existing.address.expiresAt >= address.expiresAt) return false;
    this.entries.set(key, { rule, address });
    return !existing;
  }
}
