// Lists -> what the kernel enforces, and what changed since the last apply. A list's address
// entries are kernel rules under their own rule ids; its domain entries reach the kernel through the
// DNS side (domainRules), like hand-made domain rules. An update of a list's entries changes only
// the entries that came or went; a change of its terms (enabled, and so on) all of them.
import { parsePrefix, parseRemote, type Rule } from '../../contract/index.js';
import type { CompilableRule, KernelRule, KernelRuleV4 } from '../../../native/api.js';
import type { StoredList } from '../store/lists-store.js';
import { ipv4Value } from './remote-set.js';

type EntryTerms = Omit<KernelRuleV4, 'ruleId' | 'addr'>;
const termsCache = new WeakMap<StoredList, EntryTerms>();

/**
 * What every entry of a list shares, as the prototype of their kernel rules: an entry's own object
 * holds only its id and address (and, for a CIDR or IPv6, its family and length). A million
 * entries are a million two-field objects, no arrays.
 */
function entryTerms(list: StoredList): EntryTerms {
  let terms = termsCache.get(list);
  if (!terms) {
    terms = {
      scope: list.appId ?? 0,
      family: 4,
      prefixLen: 32,
      portLo: 0,
      portHi: 65535,
      protocol: 'any',
      direction: list.direction,
      action: list.action,
    };
    termsCache.set(list, terms);
  }
  return terms;
}

/** The kernel rule of one entry, or null for a domain (its addresses come from DNS answers). */
export function entryKernelRule(list: StoredList, ruleId: number, remote: string): CompilableRule | null {
  const v4 = ipv4Value(remote);
  if (v4 >= 0) {
    const rule = Object.create(entryTerms(list)) as KernelRuleV4;
    rule.ruleId = ruleId;
    rule.addr = v4;
    return rule;
  }
  // Canonical entries: a bare IPv4 address is handled above, every other address has ':' or '/'.
  if (!remote.includes(':') && !remote.includes('/')) return null;
  const prefix = parsePrefix(remote);
  // Entries are stored canonical; one that does not parse is a bug or tampering.
  if (!prefix.ok) throw new Error(`list ${list.id} entry ${ruleId}: stored remote ${remote} does not parse`);
  const rule = Object.create(entryTerms(list)) as KernelRule;
  rule.ruleId = ruleId;
  rule.family = prefix.value.family;
  rule.addr = prefix.value.bytes;
  rule.prefixLen = prefix.value.prefixLen;
  return rule;
}

/** What decides how every entry of a list is enforced; entries differ only in their remote. */
const termsOf = (list: StoredList): string => `${list.enabled} ${list.action} ${list.appId} ${list.direction}`;

interface Applied {
  terms: string;
  ids: Uint32Array;
  /** Kernel rules beside ids (null: a domain, or a disabled list's entry). */
  rules: Array<CompilableRule | null>;
}

export interface ListKernelChange {
  removed: CompilableRule[];
  added: CompilableRule[];
  /** Records the change as applied (after the kernel took it). */
  commit(): void;
}

/** The kernel rules of the lists as last applied, by list id. */
export class ListKernelEntries {
  private applied = new Map<number, Applied>();

  /** Every list's rules are unknown to the kernel (a fresh compiler): the next change brings them all. */
  forget(): void {
    this.applied.clear();
  }

  /**
   * What takes the kernel from the lists as applied to `lists` (by id, null when gone), for the ids
   * given. Yields to the event loop every YIELD_EVERY entries: the helper answers other requests
   * while a list of millions is turned into kernel rules.
   */
  async change(ids: Iterable<number>, get: (id: number) => StoredList | null): Promise<ListKernelChange> {
    const removed: CompilableRule[] = [];
    const added: CompilableRule[] = [];
    const next = new Map<number, Applied | null>();
    for (const id of ids) {
      const list = get(id);
      const before = this.applied.get(id) ?? null;
      if (!list) {
        if (before) for (const rule of before.rules) if (rule) removed.push(rule);
        next.set(id, null);
        continue;
      }
      const after: Applied = { terms: termsOf(list), ids: list.ids, rules: new Array(list.ids.length) };
      if (before && before.terms === after.terms) await mergeEntries(list, before, after, removed, added);
      else {
        if (before) for (const rule of before.rules) if (rule) removed.push(rule);
        for (let j = 0; j < list.ids.length; j++) {
          if (j % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEvents();
          const rule = list.enabled ? entryKernelRule(list, list.ids[j]!, list.remotes[j]!) : null;
          after.rules[j] = rule;
          if (rule) added.push(rule);
        }
      }
      next.set(id, after);
    }
    return {
      removed,
      added,
      commit: () => {
        for (const [id, applied] of next) {
          if (applied) this.applied.set(id, applied);
          else this.applied.delete(id);
        }
      },
    };
  }
}

/** Both id lists ascend: one walk finds the entries that went (removed) and came (added); the rest keep their rules. */
const YIELD_EVERY = 65536;
const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

async function mergeEntries(
  list: StoredList,
  before: Applied,
  after: Applied,
  removed: CompilableRule[],
  added: CompilableRule[],
): Promise<void> {
  let i = 0;
  for (let j = 0; j < after.ids.length; j++) {
    if (j % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEvents();
    const id = after.ids[j]!;
    while (i < before.ids.length && before.ids[i]! < id) {
      const gone = before.rules[i++];
      if (gone) removed.push(gone);
    }
    if (i < before.ids.length && before.ids[i] === id) {
      after.rules[j] = before.rules[i++]!;
      continue;
    }
    const rule = list.enabled ? entryKernelRule(list, id, list.remotes[j]!) : null;
    after.rules[j] = rule;
    if (rule) added.push(rule);
  }
  for (; i < before.ids.length; i++) {
    const gone = before.rules[i];
    if (gone) removed.push(gone);
  }
}

const domainRuleCache = new WeakMap<StoredList, Rule[]>();

/** The domain entries of enabled lists as domain rules (for the DNS side), made once per list value. */
export function listDomainRules(lists: readonly StoredList[]): Rule[] {
  const out: Rule[] = [];
  for (const list of lists) {
    if (!list.enabled) continue;
    let rules = domainRuleCache.get(list);
    if (!rules) {
      rules = [];
      for (let j = 0; j < list.remotes.length; j++) {
        const text = list.remotes[j]!;
        if (ipv4Value(text) >= 0 || text.includes(':') || text.includes('/')) continue;
        const remote = parseRemote(text);
        if (!remote.ok || remote.value.kind !== 'domain') continue;
        rules.push({
          id: list.ids[j]!,
          action: list.action,
          appId: list.appId,
          remote: remote.value,
          ports: null,
          protocol: 'any',
          direction: list.direction,
          expiresAt: null,
          note: list.note,
          enabled: true,
          createdAt: list.createdAt,
          updatedAt: list.updatedAt,
          hits: 0,
        });
      }
      domainRuleCache.set(list, rules);
    }
    for (const rule of rules) out.push(rule);
  }
  return out;
}
