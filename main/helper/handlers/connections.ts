// apps.list, apps.setDefault, connections.list.
import { PortcullisError } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { RulesEngine } from '../engine.js';
import type { Connections } from '../flows/connections-service.js';

export function connectionsHandlers({ engine, connections }: { engine: RulesEngine; connections: Connections }): HandlerTable {
  return {
    'apps.list': () => engine.apps.list(),
    'apps.setDefault': async ({ appId, action }) => {
      const before = engine.apps.get(appId);
      if (!before) throw new PortcullisError('not-found', `there is no app with id ${appId} (see "portcullis apps")`, { where: 'params.appId' });
      engine.apps.setDefault(appId, action);
      try {
        // The per-app default reaches the kernel with the rules; the reply waits for both.
        await engine.refresh();
      } catch (error) {
        engine.apps.setDefault(appId, before.defaultAction);
        throw error;
      }
      return engine.apps.get(appId)!;
    },
    'connections.list': (query) => connections.pipeline.list(query),
  };
}
