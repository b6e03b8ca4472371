// rules.*: list, add, addMany (import chunks), update (incl. enable/disable), remove.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function rulesHandlers({ engine }: HelperServices): HandlerTable {
  return {
    'rules.list': () => engine.listRules(),
    'rules.add': async ({ rule }) => (await engine.addRules([rule], 'params.rule'))[0]!,
    'rules.addMany': async ({ rules }) => {
      const added = await engine.addRules(rules, 'params.rules');
      return { added: added.length, firstId: added[0]?.id ?? null };
    },
    'rules.update': ({ id, patch }) => engine.updateRule(id, patch, 'params.patch'),
    'rules.remove': async ({ ids }) => ({ removed: await engine.removeRules(ids) }),
  };
}
