// What an RPC handler is: typed by the contract's method table, given the calling connection.
import type { MethodName, ParamsOf, ResultOf } from '../../contract/index.js';
import type { RpcConnection } from './connection.js';

export interface CallContext {
  connection: RpcConnection;
}

export type Handler<M extends MethodName> = (params: ParamsOf<M>, context: CallContext) => ResultOf<M> | Promise<ResultOf<M>>;

/** Handlers by method; a method without one answers "not available". hello belongs to the server. */
export type HandlerTable = { [M in Exclude<MethodName, 'hello'>]?: Handler<M> };
