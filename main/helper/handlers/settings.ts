// settings.get / settings.update (the default verdict reaches the kernel with the rules). An allow
// default and the history's length need an administrator; who may use the helper only root changes.
import { PortcullisError, changesAuthorizedUsers, settingsLoosening, type Settings } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function settingsHandlers(services: HelperServices): HandlerTable {
  const { engine, authority } = services;
  return {
    'settings.get': () => engine.settings.get(),
    'settings.update': async ({ patch }, { connection }) => {
      if (patch.defaultAction === 'ask' && services.askUnavailable !== null)
        throw new PortcullisError('unavailable', `ask mode cannot be used on this kernel: ${services.askUnavailable}`, {
          where: 'params.patch.defaultAction',
        });
      const rootOnly = (current: Settings) => {
        if (connection.peer.uid === 0 || !changesAuthorizedUsers(current, patch)) return;
        throw new PortcullisError(
          'unauthorized',
          'only root changes authorizedUsers (who may use the helper): run it as root, e.g. sudo portcullis settings --authorized-users UIDS',
          { where: 'params.patch.authorizedUsers' },
        );
      };
      rootOnly(engine.settings.get());
      const grant = await authority.request(connection, settingsLoosening(engine.settings.get(), patch));
      const settings = await engine.updateSettings(patch, (current) => {
        rootOnly(current);
        grant.cover(settingsLoosening(current, patch));
      });
      services.settingsChanged?.();
      return settings;
    },
  };
}
