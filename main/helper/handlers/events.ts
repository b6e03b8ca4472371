// events.subscribe: this connection joins the batched decision stream.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function eventsHandlers({ fanout }: HelperServices): HandlerTable {
  return {
    'events.subscribe': (_params, { connection }) => {
      fanout.subscribe(connection);
      return { subscribed: true as const };
    },
  };
}
