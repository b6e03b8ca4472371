// status and enforcement.set.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function statusHandlers({ enforcement, status, log }: HelperServices): HandlerTable {
  return {
    status: () => status(),
    'enforcement.set': async ({ enabled, pauseMinutes }, { connection }) => {
      log?.(
        `${connection.describe()}: asked for enforcement ${enabled ? 'on' : pauseMinutes ? `paused for ${pauseMinutes} min` : 'off'}`,
      );
      await enforcement.set(enabled, pauseMinutes);
      return status();
    },
  };
}
