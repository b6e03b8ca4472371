// unblock RULE-ID|TARGET: remove a rule by id, or every block rule for that remote (removing a
// block rule needs an administrator).
import { PortcullisError, formatRemote, parseRemote } from '../../contract/index.js';
import type { Command } from '../command.js';

export const unblockCommand: Command = {
  name: 'unblock',
  summary: 'remove a block rule, by id or by its target',
  synopsis: 'RULE-ID|TARGET',
  flags: {},
  json: true,
  mayLoosen: () => true,
  async run(context) {
    const [target, ...extra] = context.positionals;
    if (target === undefined)
      throw new PortcullisError(
        'invalid-input',
        'give a rule id (see "portcullis rules") or the blocked address, CIDR or domain',
        { where: 'RULE-ID|TARGET' },
      );
    if (extra.length > 0)
      throw new PortcullisError('invalid-input', `unexpected argument "${extra[0]}"`, { where: 'arguments' });
    let ids: number[];
    const remote = /^[0-9]+$/.test(target) ? null : parseRemote(target, 'TARGET');
    if (remote && !remote.ok)
      throw new PortcullisError('invalid-input', `TARGET: ${remote.error.message}`, { where: 'TARGET' });
    const client = await context.connect();
    if (!remote) {
      ids = [Number(target)];
    } else {
      const wanted = formatRemote(remote.value);
      ids = (await client.call('rules.list'))
        .filter((rule) => rule.action === 'block' && formatRemote(rule.remote) === wanted)
        .map((rule) => rule.id);
      if (ids.length === 0)
        throw new PortcullisError('not-found', `no block rule for ${wanted} (see "portcullis rules")`);
    }
    const { removed } = await client.call('rules.remove', { ids });
    if (removed.length === 0) throw new PortcullisError('not-found', `there is no rule ${target}`);
    if (context.json) context.out(JSON.stringify({ removed }));
    else context.out(`removed rule${removed.length > 1 ? 's' : ''} ${removed.join(', ')}`);
    return 0;
  },
};
