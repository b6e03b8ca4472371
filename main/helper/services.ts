// What the RPC handlers work with; built once by the helper at start-up.
import type { Status } from '../contract/index.js';
import type { RulesEngine } from './engine.js';
import type { Enforcement } from './enforcement.js';
import type { EventFanout } from './event-fanout.js';
import type { Connections } from './flows/connections-service.js';
import type { ImportSessions } from './lists/import-sessions.js';
import type { Subscriptions } from './lists/subscriptions.js';
import type { Authority } from './authority/authority.js';
import type { AskService } from './ask/ask-service.js';

export interface HelperServices {
  engine: RulesEngine;
  enforcement: Enforcement;
  fanout: EventFanout;
  connections: Connections;
  imports: ImportSessions;
  subscriptions: Subscriptions;
  /** Asks for an administrator before a request loosens the firewall. */
  authority: Authority;
  asks: AskService;
  /** Why ask mode cannot be chosen on this kernel, or null when it can. */
  askUnavailable: string | null;
  status(): Status;
  /** The helper's log (audit lines for changes). */
  log?(message: string): void;
  /** Called after settings change (the helper closes connections of users no longer authorised). */
  settingsChanged?(): void;
}
