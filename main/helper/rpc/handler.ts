// What an RPC handler is, and the one place a request's params are checked before use: against the
// contract's schema for its method (the helper is the trust boundary), so a handler receives them
// parsed and typed.
import {
  PortcullisError,
  invalidInput,
  rpcMethods,
  type MethodName,
  type ParsedParamsOf,
  type ResultOf,
} from '../../contract/index.js';
import type { RpcConnection } from './connection.js';

export interface CallContext {
  connection: RpcConnection;
}

/** hello belongs to the connection itself. */
export type HandledMethod = Exclude<MethodName, 'hello'>;

export type Handler<M extends HandledMethod> = (
  params: ParsedParamsOf<M>,
  context: CallContext,
) => ResultOf<M> | Promise<ResultOf<M>>;

/** Handlers by method; a method without one answers "not available". */
export type HandlerTable = { [M in HandledMethod]?: Handler<M> };

/** Parses a request's params with its method's schema and runs its handler. */
export async function dispatch<M extends HandledMethod>(
  handlers: HandlerTable,
  method: M,
  params: unknown,
  context: CallContext,
): Promise<ResultOf<M>> {
  const parsed = rpcMethods[method].params.parse(params, 'params');
  if (!parsed.ok) throw invalidInput(parsed.error);
  const handler = handlers[method];
  if (!handler) throw new PortcullisError('not-found', `"${method}" is not available in this helper yet`);
  return handler(parsed.value, context);
}
