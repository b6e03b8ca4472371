// Checks of what the helper hands the compiler: it is trusted code, so a failure is a bug there,
// reported with the place (list and index) and what is wrong, before anything is changed.
import type { KernelDefaults, CompilableRule } from '../api.js';
import { ACTION_CODE, DEFAULT_CODE, DIRECTION_CODE, PROTOCOL_CODE } from './layout.js';

/** Each table's own names, not ones every object inherits (like 'toString'); set lookups are cheaper than Object.hasOwn on a 1M load. */
const PROTOCOLS: ReadonlySet<unknown> = new Set(Object.keys(PROTOCOL_CODE));
const DIRECTIONS: ReadonlySet<unknown> = new Set(Object.keys(DIRECTION_CODE));
const ACTIONS: ReadonlySet<unknown> = new Set(Object.keys(ACTION_CODE));

function invalid(rule: CompilableRule, list: string, index: number, why: string): never {
  throw new RangeError(`${list}[${index}] (ruleId ${String(rule.ruleId)}): ${why}`);
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Throws on input the helper should never produce: says which rule and what is wrong. */
export function validateRule(rule: CompilableRule, index: number, list = 'rules'): void {
  if (!Number.isInteger(rule.ruleId) || rule.ruleId <= 0 || rule.ruleId > 0xffffffff)
    invalid(rule, list, index, 'ruleId must be a u32 > 0');
  if (!Number.isInteger(rule.scope) || rule.scope < 0 || rule.scope > 0xffffffff)
    invalid(rule, list, index, 'scope must be a u32');
  if (rule.family !== 4 && rule.family !== 6)
    invalid(rule, list, index, `family must be 4 or 6, not ${String(rule.family)}`);
  const bytes = rule.family === 4 ? 4 : 16;
  const addr = rule.addr;
  if (typeof addr === 'number') {
    if (rule.family !== 4 || !Number.isInteger(addr) || addr < 0 || addr > 0xffffffff)
      invalid(rule, list, index, 'a numeric addr must be an IPv4 address as a u32');
  } else if (!(addr instanceof Uint8Array) || addr.length !== bytes)
    invalid(rule, list, index, `addr must be ${bytes} bytes for IPv${rule.family}`);
  if (!Number.isInteger(rule.prefixLen) || rule.prefixLen < 0 || rule.prefixLen > bytes * 8)
    invalid(rule, list, index, `prefixLen must be 0..${bytes * 8}`);
  if (rule.family === 6 && typeof addr !== 'number' && rule.prefixLen >= 96 && isMapped(addr))
    invalid(rule, list, index, 'an IPv4-mapped IPv6 address must be given as family 4');
  if (!isPort(rule.portLo) || !isPort(rule.portHi) || rule.portLo > rule.portHi)
    invalid(rule, list, index, 'ports must satisfy 0 <= portLo <= portHi <= 65535');
  if (!PROTOCOLS.has(rule.protocol)) invalid(rule, list, index, `unknown protocol ${String(rule.protocol)}`);
  if (!DIRECTIONS.has(rule.direction)) invalid(rule, list, index, `unknown direction ${String(rule.direction)}`);
  if (!ACTIONS.has(rule.action)) invalid(rule, list, index, `unknown action ${String(rule.action)}`);
}

function isMapped(addr: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (addr[i] !== 0) return false;
  return addr[10] === 0xff && addr[11] === 0xff;
}

/** Throws on defaults the helper should never produce, saying which and why. */
export function validateDefaults(defaults: KernelDefaults): void {
  for (const [appId, action] of defaults.perApp) {
    if (!Number.isInteger(appId) || appId <= 0 || appId > 0xffffffff)
      throw new RangeError(`defaults.perApp: app id ${appId} must be a u32 > 0`);
    if (!ACTIONS.has(action)) throw new RangeError(`defaults.perApp[${appId}]: unknown action ${String(action)}`);
  }
  if (!Object.prototype.hasOwnProperty.call(DEFAULT_CODE, defaults.global))
    throw new RangeError(`defaults.global: unknown action ${String(defaults.global)}`);
}
