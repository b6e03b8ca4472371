// prompts.*: ask mode's questions: list, answer, subscribe to changes.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function promptsHandlers({ asks }: HelperServices): HandlerTable {
  return {
    'prompts.list': () => asks.prompts(),
    // TODO(authority, issue 16): an allow answer that makes a rule loosens the firewall; once the
    // authority hook is on main, ask it here (answers given once decide only what is held now).
    'prompts.answer': (answer, { connection }) => asks.answer(answer, connection.describe()),
    'prompts.subscribe': (_params, { connection }) => {
      asks.subscribe(connection);
      return { subscribed: true as const };
    },
  };
}
