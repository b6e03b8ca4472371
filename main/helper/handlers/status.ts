// status and enforcement.set.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function statusHandlers({ enforcement, status }: HelperServices): HandlerTable {
  return {
    status: () => status(),
    'enforcement.set': async ({ enabled, pauseMinutes }) => {
      await enforcement.set(enabled, pauseMinutes);
      return status();
    },
  };
}
