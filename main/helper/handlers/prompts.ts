// prompts.*: ask mode's questions: list, answer, subscribe to changes. An answer remembered as allow
// rules loosens the firewall like adding them does: it needs an administrator (see authority/); an
// answer for once decides only what is held now, like a person at the app's own prompt would.
import { additionLoosening, draftState } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function promptsHandlers({ asks, authority }: HelperServices): HandlerTable {
  return {
    'prompts.list': () => asks.prompts(),
    'prompts.answer': async (answer, { connection }) => {
      // Asked before the answer waits its turn: a dialog must not hold up holds, timeouts and other answers.
      const now = Date.now();
      const plan = asks.plan(answer);
      await authority.request(connection, additionLoosening(plan.drafts.map((draft) => draftState(draft, now))));
      return asks.answer(answer, connection.describe());
    },
    'prompts.subscribe': (_params, { connection }) => {
      asks.subscribe(connection);
      return { subscribed: true as const };
    },
  };
}
