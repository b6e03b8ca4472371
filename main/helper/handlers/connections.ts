// apps.list, apps.setDefault, connections.list and .page, rules.addresses (what DNS taught the domain rules).
// An app's allow default (or dropping its block default) needs an administrator.
import { PortcullisError, appDefaultLoosening } from '../../contract/index.js';
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';

export function connectionsHandlers({ engine, connections, authority }: HelperServices): HandlerTable {
  return {
    'apps.list': () => engine.apps.list(),
    // The per-app default reaches the kernel with the rules, in one change: the reply waits for both,
    // and a kernel refusal leaves the stored default as it was.
    'apps.setDefault': async ({ appId, action }, { connection }) => {
      const known = engine.apps.get(appId);
      const grant = await authority.request(
        connection,
        known ? appDefaultLoosening(known.name, known.defaultAction, action) : null,
      );
      return engine.transaction(() => {
        const current = engine.apps.get(appId);
        if (!current)
          throw new PortcullisError('not-found', `there is no app with id ${appId} (see "portcullis apps")`, {
            where: 'params.appId',
          });
        grant.cover(appDefaultLoosening(current.name, current.defaultAction, action));
        return engine.apps.setDefault(appId, action)!;
      });
    },
    'connections.list': (query) => connections.pipeline.list(query),
    'connections.page': ({ cursor, pageSize, ...query }, { connection }) =>
      cursor === undefined
        ? connections.pages.first(connection, query, pageSize)
        : connections.pages.next(connection, cursor, pageSize),
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
