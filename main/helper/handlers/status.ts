// status and enforcement.set (turning enforcement off or pausing it needs an administrator).
import { enforcementLoosening } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function statusHandlers({ enforcement, authority, status, log }: HelperServices): HandlerTable {
  return {
    status: () => status(),
    'enforcement.set': async ({ enabled, pauseMinutes }, { connection }) => {
      log?.(
        `${connection.describe()}: asked for enforcement ${enabled ? 'on' : pauseMinutes ? `paused for ${pauseMinutes} min` : 'off'}`,
      );
      await authority.request(connection, enforcementLoosening(enabled, pauseMinutes));
      await enforcement.set(enabled, pauseMinutes);
      return status();
    },
  };
}
