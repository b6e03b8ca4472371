// Kernel rules written the short way for the compiler's tests.
import type { KernelRule } from '../../../../native/api.js';

/** Monitor mode with no per-app defaults. */
export const defaults = { global: 'allow' as const, perApp: new Map<number, 'allow' | 'block'>() };

/** A global IPv4 block rule on "a.b.c.d" or "a.b.c.d/len", any port, protocol and direction. */
export function v4(ruleId: number, text: string, extra: Partial<KernelRule> = {}): KernelRule {
  const [addr, len] = text.split('/');
  return {
    ruleId,
    scope: 0,
    family: 4,
    addr: Uint8Array.from(addr!.split('.').map(Number)),
    prefixLen: len === undefined ? 32 : Number(len),
    portLo: 0,
    portHi: 65535,
    protocol: 'any',
    direction: 'both',
    action: 'block',
    ...extra,
  };
}
