// settings.get / settings.update (the default verdict reaches the kernel with the rules).
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function settingsHandlers({ engine }: HelperServices): HandlerTable {
  return {
    'settings.get': () => engine.settings.get(),
    'settings.update': ({ patch }) => engine.updateSettings(patch),
  };
}
