// The helper's RPC: JSON-RPC 2.0, one JSON object per line over a unix socket, versioned by a
// hello exchange. Declared once here; the server validates params with these schemas and the
// client derives its typed calls from the same table.
import { s, type Schema } from './schema.js';
import { ACTIONS, idSchema, ruleDraftSchema, rulePatchSchema, type Rule } from './rules.js';
import {
  connectionQuerySchema,
  settingsPatchSchema,
  type App,
  type ConnectionEvent,
  type DomainAddress,
  type Flow,
  type Settings,
  type Status,
} from './domain.js';
import { promptAnswerSchema, type Prompt, type PromptAnswerResult } from './prompts.js';
import { subscribeSchema } from './subscriptions.js';
import {
  importBeginSchema,
  importChunkSchema,
  importSessionSchema,
  listEntriesSchema,
  listPatchSchema,
  type ImportProgress,
  type ImportSummary,
  type ListEntry,
  type ListUpdate,
  type RuleList,
} from './lists.js';

export const PROTOCOL_VERSION = 1;
/** Longest request line the helper reads; longer lines are refused and the connection closed. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Most rules one rules.addMany call may carry (imports send chunks and show progress). */
export const MAX_BATCH = 5000;

/** A method: its params' schema (what a client sends, what the handler receives) and its result. */
interface Method<Parsed, Sent, Result> {
  params: Schema<Parsed, Sent>;
  /** Never set: carries the result type for the client's typing. */
  result?: Result;
}
/** Never set: names a result type in a method table. */
export interface Returns<Result> {
  readonly result?: Result;
}
export const returns = <Result>(): Returns<Result> => ({});
const method = <Parsed, Sent, Result>(
  params: Schema<Parsed, Sent>,
  _result: Returns<Result>,
): Method<Parsed, Sent, Result> => ({ params });

export interface HelloResult {
  protocol: number;
  version: string;
  /** The caller's uid as the helper saw it. */
  uid: number;
}

const methods = {
  hello: method(
    s.object({ protocol: s.int({ min: 1, max: 1000 }), client: s.string({ min: 1, max: 100, printable: true }) }),
    returns<HelloResult>(),
  ),
  status: method(s.none(), returns<Status>()),
  'rules.list': method(s.none(), returns<Rule[]>()),
  'rules.add': method(s.object({ rule: ruleDraftSchema }), returns<Rule>()),
  /** A chunk of an import: all of it or none. */
  'rules.addMany': method(
    s.object({ rules: s.array(ruleDraftSchema, { max: MAX_BATCH }) }),
    returns<{ added: number; firstId: number | null }>(),
  ),
  'rules.update': method(s.object({ id: idSchema, patch: rulePatchSchema }), returns<Rule>()),
  'rules.remove': method(s.object({ ids: s.array(idSchema, { max: MAX_BATCH }) }), returns<{ removed: number[] }>()),
  /** The addresses domain rules stand for now (one rule's, with `id`). */
  'rules.addresses': method(s.object({ id: s.optional(idSchema) }), returns<DomainAddress[]>()),
  'enforcement.set': method(
    s.object({ enabled: s.boolean(), pauseMinutes: s.optional(s.int({ min: 1, max: 24 * 60 })) }),
    returns<Status>(),
  ),
  'settings.get': method(s.none(), returns<Settings>()),
  'settings.update': method(s.object({ patch: settingsPatchSchema }), returns<Settings>()),
  'apps.list': method(s.none(), returns<App[]>()),
  'apps.setDefault': method(s.object({ appId: idSchema, action: s.nullable(s.oneOf(ACTIONS)) }), returns<App>()),
  'connections.list': method(connectionQuerySchema, returns<Flow[]>()),
  /**
   * An import: begin a session, send the text in chunks (parsed as they come; the reply says how far
   * it got), commit it (one transaction, one kernel apply) or abort it. Sessions end with their connection.
   */
  'import.begin': method(importBeginSchema, returns<{ session: number }>()),
  'import.chunk': method(importChunkSchema, returns<ImportProgress>()),
  'import.commit': method(importSessionSchema, returns<ImportSummary>()),
  'import.abort': method(importSessionSchema, returns<{ aborted: true }>()),
  'lists.list': method(s.none(), returns<RuleList[]>()),
  /** A page of a list's entries (in id order). */
  'lists.entries': method(listEntriesSchema, returns<{ total: number; entries: ListEntry[] }>()),
  /** Enable (an allow list: accept what waits for review), disable, rename, note. */
  'lists.update': method(s.object({ id: idSchema, patch: listPatchSchema }), returns<RuleList>()),
  'lists.remove': method(s.object({ id: idSchema }), returns<{ removed: RuleList }>()),
  /** Subscribes to a list by URL; the reply comes after the first fetch (a failed one is in the list's error). */
  'lists.subscribe': method(subscribeSchema, returns<ListUpdate>()),
  /** Fetches one subscription now, or every one. */
  'lists.refresh': method(s.object({ id: s.optional(idSchema) }), returns<ListUpdate[]>()),
  /** Starts the "events" notification stream on this connection. */
  'events.subscribe': method(s.none(), returns<{ subscribed: true }>()),
  /** Ask mode: the questions waiting for an answer (also those no client saw yet). */
  'prompts.list': method(s.none(), returns<Prompt[]>()),
  /** Answers a question (or one host of it); a remembered answer becomes an ordinary rule. */
  'prompts.answer': method(promptAnswerSchema, returns<PromptAnswerResult>()),
  /** Starts the "prompts.changed" notifications on this connection (the first carries the current list). */
  'prompts.subscribe': method(s.none(), returns<{ subscribed: true }>()),
};

export type MethodName = keyof typeof methods;
/** What a client sends. */
export type ParamsOf<M extends MethodName> =
  (typeof methods)[M] extends Method<unknown, infer Sent, unknown> ? Sent : never;
/** What the helper's handler receives: the params as their schema parsed them. */
export type ParsedParamsOf<M extends MethodName> =
  (typeof methods)[M] extends Method<infer Parsed, unknown, unknown> ? Parsed : never;
export type ResultOf<M extends MethodName> =
  (typeof methods)[M] extends Method<unknown, unknown, infer Result> ? Result : never;

/**
 * The table, typed per name, so that code generic over a method name (the helper's dispatch) sees
 * its params' schema and its handler agree without casts.
 */
export const rpcMethods: { readonly [M in MethodName]: Method<ParsedParamsOf<M>, ParamsOf<M>, ResultOf<M>> } = methods;

/** Notifications the helper pushes (no id). */
export interface RpcNotifications {
  /** A batch of decisions; `dropped` counts events lost since the last batch (kernel or fan-out). */
  events: { events: ConnectionEvent[]; dropped: number };
  'rules.changed': { ruleCount: number };
  'status.changed': Status;
  /** Ask mode: every question waiting now, after any change (coalesced). */
  'prompts.changed': { prompts: Prompt[] };
}
export type NotificationName = keyof RpcNotifications;

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(rpcMethods, name);
}

/** JSON-RPC error codes; the `data.kind` is what clients branch on. */
export const RPC_CODES = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internal: -32603,
  application: -32000,
} as const;
