// The helper's RPC: JSON-RPC 2.0, one JSON object per line over a unix socket, versioned by a
// hello exchange. Declared once here; the server validates params with these schemas and the
// client derives its typed calls from the same table.
import { s, type Infer, type Schema } from './schema.js';
import { ruleDraftSchema, rulePatchSchema, type Rule } from './rules.js';
import { connectionQuerySchema, settingsPatchSchema, type App, type ConnectionEvent, type Flow, type Settings, type Status } from './domain.js';

export const PROTOCOL_VERSION = 1;
/** Longest request line the helper reads; longer lines are refused and the connection closed. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Most rules one rules.addMany call may carry (imports send chunks and show progress). */
export const MAX_BATCH = 5000;

interface Method<P, R> {
  params: Schema<P>;
  /** Phantom: the result type, carried for the client's typing. */
  result?: R;
}
const method = <P, R>(params: Schema<P>): Method<P, R> => ({ params });

const ruleId = s.int({ min: 1, max: 4_294_967_295 });

export const rpcMethods = {
  hello: method<{ protocol: number; client: string }, { protocol: number; version: string; uid: number }>(
    s.object({ protocol: s.int({ min: 1, max: 1000 }), client: s.string({ min: 1, max: 100 }) }),
  ),
  status: method<Record<string, never>, Status>(s.none()),
  'rules.list': method<Record<string, never>, Rule[]>(s.none()),
  'rules.add': method<{ rule: Infer<typeof ruleDraftSchema> }, Rule>(s.object({ rule: ruleDraftSchema })),
  'rules.addMany': method<{ rules: Array<Infer<typeof ruleDraftSchema>> }, { added: number; firstId: number | null }>(
    s.object({ rules: s.array(ruleDraftSchema, { max: MAX_BATCH }) }),
  ),
  'rules.update': method<{ id: number; patch: Infer<typeof rulePatchSchema> }, Rule>(s.object({ id: ruleId, patch: rulePatchSchema })),
  'rules.remove': method<{ ids: number[] }, { removed: number[] }>(s.object({ ids: s.array(ruleId, { max: MAX_BATCH }) })),
  'enforcement.set': method<{ enabled: boolean; pauseMinutes?: number }, Status>(
    s.object({ enabled: s.boolean(), pauseMinutes: s.optional(s.int({ min: 1, max: 24 * 60 })) }),
  ),
  'settings.get': method<Record<string, never>, Settings>(s.none()),
  'settings.update': method<{ patch: Infer<typeof settingsPatchSchema> }, Settings>(s.object({ patch: settingsPatchSchema })),
  'apps.list': method<Record<string, never>, App[]>(s.none()),
  'apps.setDefault': method<{ appId: number; action: 'allow' | 'block' | null }, App>(
    s.object({ appId: s.int({ min: 1 }), action: s.nullable(s.oneOf(['allow', 'block'] as const)) }),
  ),
  'connections.list': method<Infer<typeof connectionQuerySchema>, Flow[]>(connectionQuerySchema),
  /** Starts the "events" notification stream on this connection. */
  'events.subscribe': method<Record<string, never>, { subscribed: true }>(s.none()),
} as const;

export type RpcMethods = typeof rpcMethods;
export type MethodName = keyof RpcMethods;
export type ParamsOf<M extends MethodName> = RpcMethods[M] extends Method<infer P, unknown> ? P : never;
export type ResultOf<M extends MethodName> = RpcMethods[M] extends Method<unknown, infer R> ? R : never;

/** Notifications the helper pushes (no id). */
export interface RpcNotifications {
  /** A batch of decisions; `dropped` counts events lost since the last batch (kernel or fan-out). */
  events: { events: ConnectionEvent[]; dropped: number };
  'rules.changed': { ruleCount: number };
  'status.changed': Status;
}
export type NotificationName = keyof RpcNotifications;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(rpcMethods, name);
}

/** JSON-RPC error codes; the `data.kind` is what clients branch on. */
export const RPC_CODES = { parseError: -32700, invalidRequest: -32600, methodNotFound: -32601, invalidParams: -32602, internal: -32603, application: -32000 } as const;
