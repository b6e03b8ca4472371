// block/allow flags -> a rule draft. The helper checks it; the CLI runs the same parser first only
// so that a mistake is reported without a helper and names the flag the person typed.
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { PortcullisError, parseRuleDraft, type Action, type RuleDraft } from '../../contract/index.js';
import type { CommandContext, FlagSpec } from '../command.js';

export const RULE_FLAGS: Record<string, FlagSpec> = {
  app: {
    type: 'string',
    description: 'only this application: an executable path or an app id',
    placeholder: 'EXE-PATH|APP-ID',
  },
  port: { type: 'string', description: 'remote port or range (443, 8000-8100)', placeholder: 'N|A-B' },
  proto: { type: 'string', description: 'tcp, udp, icmp or any (default any)', placeholder: 'PROTO' },
  dir: { type: 'string', description: 'out, in or both (default both)', placeholder: 'DIR' },
  for: { type: 'string', description: 'expire after this long (90s, 10m, 2h, 7d)', placeholder: 'DURATION' },
  note: { type: 'string', description: 'a note to remember why', placeholder: 'TEXT' },
};

const FLAG_OF_FIELD: Record<string, string> = {
  remote: 'TARGET',
  app: '--app',
  port: '--port',
  protocol: '--proto',
  direction: '--dir',
  for: '--for',
  expiresAt: '--for',
  note: '--note',
};

/** "rule.port" -> "--port"; the message keeps its own words. */
export function flagFor(where: string): string {
  const field = where.split('.').slice(1).join('.') || where;
  return FLAG_OF_FIELD[field] ?? where;
}

/**
 * --app: an app id, a path (relative to where the person is: the helper runs elsewhere), or a bare
 * command name looked up in PATH like the shell would.
 */
export function appSelector(text: string): number | string {
  if (/^[0-9]+$/.test(text)) return Number(text);
  if (!text.includes('/')) {
    const found = (process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((dir) => join(dir, text))
      .find((path) => existsSync(path));
    if (!found)
      throw new PortcullisError(
        'invalid-input',
        `--app: "${text}" is not an app id, and no "${text}" was found in PATH; give the executable's path`,
        { where: '--app' },
      );
    return found;
  }
  const path = resolve(text);
  if (!existsSync(path))
    throw new PortcullisError('invalid-input', `--app: "${path}" does not exist`, { where: '--app' });
  return path;
}

export function buildDraft(action: Action, context: CommandContext): RuleDraft {
  const [target, ...extra] = context.positionals;
  if (target === undefined)
    throw new PortcullisError(
      'invalid-input',
      'TARGET is missing: give an IPv4/IPv6 address, a CIDR, a domain, or "any"',
      { where: 'TARGET' },
    );
  if (extra.length > 0)
    throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}" after TARGET (one target per rule)`, {
      where: 'arguments',
    });
  const flag = (name: string) => context.flags[name] as string | undefined;
  const app = flag('app');
  const draft: RuleDraft = {
    action,
    remote: target,
    // The helper runs elsewhere: a relative path means relative to where the person is.
    ...(app !== undefined ? { app: appSelector(app) } : {}),
    ...(flag('port') !== undefined ? { port: flag('port') } : {}),
    ...(flag('proto') !== undefined ? { protocol: flag('proto') } : {}),
    ...(flag('dir') !== undefined ? { direction: flag('dir') } : {}),
    ...(flag('for') !== undefined ? { for: flag('for') } : {}),
    ...(flag('note') !== undefined ? { note: flag('note') } : {}),
  };
  const parsed = parseRuleDraft(draft, Date.now(), 'rule');
  if (!parsed.ok) {
    const where = flagFor(parsed.error.where);
    throw new PortcullisError('invalid-input', `${where}: ${parsed.error.message}`, { where });
  }
  return draft;
}
