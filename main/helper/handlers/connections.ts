// apps.list, apps.setDefault, connections.list, rules.addresses (what DNS taught the domain rules).
import { PortcullisError } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { RulesEngine } from '../engine.js';
import type { Connections } from '../flows/connections-service.js';

export function connectionsHandlers({
  engine,
  connections,
}: {
  engine: RulesEngine;
  connections: Connections;
}): HandlerTable {
  return {
    'apps.list': () => engine.apps.list(),
    // The per-app default reaches the kernel with the rules, in one change: the reply waits for both,
    // and a kernel refusal leaves the stored default as it was.
    'apps.setDefault': ({ appId, action }) =>
      engine.transaction(() => {
        const app = engine.apps.setDefault(appId, action);
        if (!app)
          throw new PortcullisError('not-found', `there is no app with id ${appId} (see "portcullis apps")`, {
            where: 'params.appId',
          });
        return app;
      }),
    'connections.list': (query) => connections.pipeline.list(query),
    'rules.addresses': ({ id }) =>
      connections.domains
        .list()
        .filter((held) => id === undefined || held.ruleId === id)
        .map(({ ruleId, address, family, name, expiresAt, answeredAt }) => ({
          ruleId,
          address,
          family,
          name,
          expiresAt,
          answeredAt,
        })),
  };
}
