// Every RPC handler, composed in one place. Add an area as handlers/<area>.ts and list it here.
import type { HandlerTable } from '../rpc/handler.js';
import type { HelperServices } from '../services.js';
import { rulesHandlers } from './rules.js';
import { statusHandlers } from './status.js';
import { settingsHandlers } from './settings.js';
import { eventsHandlers } from './events.js';
import { connectionsHandlers } from './connections.js';
import { promptsHandlers } from './prompts.js';
import { listsHandlers } from './lists.js';

export function createHandlers(services: HelperServices): HandlerTable {
  return {
    ...rulesHandlers(services),
    ...statusHandlers(services),
    ...settingsHandlers(services),
    ...eventsHandlers(services),
    ...connectionsHandlers(services),
    ...promptsHandlers(services),
    ...listsHandlers(services),
  };
}
