// Stored rules -> what the kernel enforces. Pure: the engine calls this for every change.
import { parsePrefix, type Action, type App, type DefaultAction, type Rule } from '../contract/index.js';
import type { KernelDefaults, KernelRule } from '../../native/api.js';

const ANY_V4 = new Uint8Array(4);
const ANY_V6 = new Uint8Array(16);

/** Whether a rule has kernel entries now: enabled, not expired, and not (yet) a domain. */
export function isEnforceable(rule: Rule, now: number): boolean {
  if (!rule.enabled) return false;
  if (rule.expiresAt !== null && rule.expiresAt <= now) return false;
  // Domain rules get kernel entries from the DNS tracker as apps resolve the name; until then none.
  return rule.remote.kind !== 'domain';
}

/**
 * The kernel entries of the enforceable rules, made anew on each call (the engine keeps the ones
 * it applied; a WeakMap cache of a million entries cost the collector more than it saved).
 */
export function toKernelRules(rules: readonly Rule[], now: number): KernelRule[] {
  const out: KernelRule[] = [];
  for (const rule of rules) {
    if (!isEnforceable(rule, now)) continue;
    for (const entry of ruleEntries(rule)) out.push(entry);
  }
  return out;
}

function ruleEntries(rule: Rule): KernelRule[] {
  const common = {
    ruleId: rule.id,
    scope: rule.appId ?? 0,
    portLo: rule.ports?.from ?? 0,
    portHi: rule.ports?.to ?? 65535,
    protocol: rule.protocol,
    direction: rule.direction,
    action: rule.action,
  };
  if (rule.remote.kind === 'any') {
    return [
      { ...common, family: 4, addr: ANY_V4, prefixLen: 0 },
      { ...common, family: 6, addr: ANY_V6, prefixLen: 0 },
    ];
  }
  if (rule.remote.kind !== 'address') return [];
  const prefix = parsePrefix(rule.remote.text);
  if (!prefix.ok) throw new Error(`rule ${rule.id}: stored remote ${rule.remote.text} does not parse`);
  return [{ ...common, family: prefix.value.family, addr: prefix.value.bytes, prefixLen: prefix.value.prefixLen }];
}

export function toKernelDefaults(globalDefault: DefaultAction, apps: readonly App[]): KernelDefaults {
  const perApp = new Map<number, Action>();
  for (const app of apps) if (app.defaultAction) perApp.set(app.id, app.defaultAction);
  return { global: globalDefault, perApp };
}
