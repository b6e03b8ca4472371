// rules.*: list, add, addMany (import chunks), update (incl. enable/disable), remove. Every change
// is logged with who made it (a root daemon's changes deserve an audit trail).
import { PortcullisError, describeRule, locatedIn } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

/** The engine names the field it refused ("app", "[3].app"); the request says where that field was. */
async function locating<T>(at: string, step: Promise<T>): Promise<T> {
  try {
    return await step;
  } catch (error) {
    throw error instanceof PortcullisError ? locatedIn(at, error) : error;
  }
}

export function rulesHandlers({ engine, log }: HelperServices): HandlerTable {
  const audit = (who: string, what: string) => log?.(`${who}: ${what}`);
  return {
    'rules.list': () => engine.listRules(),
    'rules.add': async ({ rule }, { connection }) => {
      const added = await locating('params.rule', engine.addRule(rule));
      audit(connection.describe(), `added rule ${added.id}: ${describeRule(added)}`);
      return added;
    },
    'rules.addMany': async ({ rules }, { connection }) => {
      const added = await locating('params.rules', engine.addRules(rules));
      if (added.length > 0)
        audit(
          connection.describe(),
          `added ${added.length} rule(s), ids ${added[0]!.id}-${added[added.length - 1]!.id}`,
        );
      return { added: added.length, firstId: added[0]?.id ?? null };
    },
    'rules.update': async ({ id, patch }, { connection }) => {
      const updated = await locating('params.patch', engine.updateRule(id, patch));
      audit(
        connection.describe(),
        `updated rule ${id}: ${describeRule(updated)}${updated.enabled ? '' : ' (disabled)'}`,
      );
      return updated;
    },
    'rules.remove': async ({ ids }, { connection }) => {
      const removed = await engine.removeRules(ids);
      if (removed.length > 0) audit(connection.describe(), `removed rule(s) ${removed.join(', ')}`);
      return { removed };
    },
  };
}
