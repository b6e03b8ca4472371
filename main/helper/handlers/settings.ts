// settings.get / settings.update (the default verdict reaches the kernel with the rules).
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function settingsHandlers(services: HelperServices): HandlerTable {
  const { engine } = services;
  return {
    'settings.get': () => engine.settings.get(),
    'settings.update': async ({ patch }) => {
      const settings = await engine.updateSettings(patch);
      services.settingsChanged?.();
      return settings;
    },
  };
}
