// rules.*: list, add, addMany (import chunks), update (incl. enable/disable), remove. Every change
// is logged with who made it (a root daemon's changes deserve an audit trail). Adding allow rules,
// and removing, disabling or narrowing block rules, need an administrator (see authority/).
import {
  PortcullisError,
  additionLoosening,
  describeRule,
  draftState,
  locatedIn,
  patchTerms,
  removalLoosening,
  ruleChangeLoosening,
  ruleState,
  type ParsedPatch,
  type Rule,
  type RuleState,
} from '../../contract/index.js';
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

/** Rules a policy file wrote are changed in that file, by root, not through the socket. */
function refuseManaged(rules: readonly Rule[]): void {
  const managed = rules.find((rule) => rule.managedBy);
  if (managed)
    throw new PortcullisError(
      'invalid-input',
      `rule ${managed.id} is managed by the policy file ${managed.managedBy}; change or remove it there`,
      { where: 'params.id' },
    );
}

/** What a patch would make of a stored rule, for asking beforehand; null when the engine will refuse the patch anyway. */
function patchedState(rule: Rule, patch: ParsedPatch, now: number): RuleState | null {
  const terms = patchTerms(rule, patch, now);
  return terms.ok ? { ...terms.value, id: rule.id, appId: patch.app === undefined ? rule.appId : patch.app } : null;
}

export function rulesHandlers({ engine, authority, log }: HelperServices): HandlerTable {
  const audit = (who: string, what: string) => log?.(`${who}: ${what}`);
  const stored = (ids: readonly number[]) => ids.map((id) => engine.rules.get(id)).filter((rule) => rule !== null);
  return {
    'rules.list': () => engine.listRules(),
    'rules.add': async ({ rule }, { connection }) => {
      await authority.request(connection, additionLoosening([draftState(rule, Date.now())]));
      const added = await locating('params.rule', engine.addRule(rule));
      audit(connection.describe(), `added rule ${added.id}: ${describeRule(added)}`);
      return added;
    },
    // One question for the whole chunk, however many allow rules it holds.
    'rules.addMany': async ({ rules }, { connection }) => {
      const now = Date.now();
      await authority.request(connection, additionLoosening(rules.map((draft) => draftState(draft, now))));
      const added = await locating('params.rules', engine.addRules(rules));
      if (added.length > 0)
        audit(
          connection.describe(),
          `added ${added.length} rule(s), ids ${added[0]!.id}-${added[added.length - 1]!.id}`,
        );
      return { added: added.length, firstId: added[0]?.id ?? null };
    },
    'rules.update': async ({ id, patch }, { connection }) => {
      const existing = engine.rules.get(id);
      if (existing) refuseManaged([existing]);
      const after = existing ? patchedState(existing, patch, Date.now()) : null;
      const grant = await authority.request(
        connection,
        existing && after ? ruleChangeLoosening(ruleState(existing), after) : null,
      );
      const updated = await locating(
        'params.patch',
        engine.updateRule(id, patch, (before, changed) => {
          refuseManaged([before]);
          grant.cover(ruleChangeLoosening(ruleState(before), ruleState(changed)));
        }),
      );
      audit(
        connection.describe(),
        `updated rule ${id}: ${describeRule(updated)}${updated.enabled ? '' : ' (disabled)'}`,
      );
      return updated;
    },
    'rules.remove': async ({ ids }, { connection }) => {
      refuseManaged(stored(ids)); // before anyone is asked for a password that could not help
      const grant = await authority.request(connection, removalLoosening(stored(ids).map(ruleState)));
      const removed = await engine.removeRules(ids, (rules) => {
        refuseManaged(rules);
        grant.cover(removalLoosening(rules.map(ruleState)));
      });
      if (removed.length > 0) audit(connection.describe(), `removed rule(s) ${removed.join(', ')}`);
      return { removed };
    },
  };
}
