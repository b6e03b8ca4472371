// settings.get / settings.update (the default verdict reaches the kernel with the rules).
import { PortcullisError } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function settingsHandlers(services: HelperServices): HandlerTable {
  const { engine } = services;
  return {
    'settings.get': () => engine.settings.get(),
    'settings.update': async ({ patch }) => {
      if (patch.defaultAction === 'ask' && services.askUnavailable !== null)
        throw new PortcullisError('unavailable', `ask mode cannot be used on this kernel: ${services.askUnavailable}`, {
          where: 'params.patch.defaultAction',
        });
      const settings = await engine.updateSettings(patch);
      services.settingsChanged?.();
      return settings;
    },
  };
}
