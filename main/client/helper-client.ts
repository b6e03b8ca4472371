// The one client of the helper (CLI, Electron main, browser shell): connect, hello, typed calls
// derived from the contract's method table, notifications. The transport stays in this file.
import { createConnection, type Socket } from 'node:net';
import { lstatSync } from 'node:fs';
import {
  PROTOCOL_VERSION,
  PortcullisError,
  isErrorKind,
  type HelloResult,
  type MethodName,
  type NotificationName,
  type ParamsOf,
  type ResultOf,
  type RpcNotifications,
} from '../contract/index.js';
import { LineSplitter, encodeLine } from '../common/json-lines.js';
import { DEFAULT_SOCKET } from '../common/default-paths.js';

export interface HelperClientOptions {
  /** Defaults to /run/portcullis/helper.sock. */
  socketPath?: string;
  /** Who we are, for the helper's log ("cli", "app"). */
  clientName: string;
  /**
   * Accept a socket not owned by root. Only for tests running as root against their own helper; a
   * normal client must never talk to a socket another user could have put there.
   */
  allowNonRootSocket?: boolean;
}

type CallableMethod = Exclude<MethodName, 'hello'>;
/** Methods without params may be called with none. */
type ParamsArg<M extends CallableMethod> =
  ParamsOf<M> extends Record<string, never> ? [params?: ParamsOf<M>] : [params: ParamsOf<M>];

interface Pending {
  resolve(value: unknown): void;
  reject(error: PortcullisError): void;
}

// Replies can be large (a rules list of a big import); the helper's own request bound is smaller.
const MAX_REPLY_BYTES = 512 * 1024 * 1024;

export class HelperClient {
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, Set<(params: unknown) => void>>();
  private readonly closeListeners = new Set<(error: PortcullisError) => void>();
  private readonly splitter = new LineSplitter(MAX_REPLY_BYTES);
  private nextId = 1;
  /** Set when the connection is over; every later call fails with it. */
  private ended: PortcullisError | null = null;
  hello: HelloResult = { protocol: 0, version: '', uid: -1 };

  private constructor(
    private readonly socket: Socket,
    readonly socketPath: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => this.end(connectError(socketPath, error)));
    socket.on('close', () => this.end(new PortcullisError('unavailable', 'the helper closed the connection')));
  }

  static async connect(options: HelperClientOptions): Promise<HelperClient> {
    const socketPath = options.socketPath ?? DEFAULT_SOCKET;
    checkSocketOwner(socketPath, options.allowNonRootSocket === true);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(socketPath);
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (error: NodeJS.ErrnoException) => reject(connectError(socketPath, error)));
    });
    const client = new HelperClient(socket, socketPath);
    try {
      client.hello = await client.request<'hello'>('hello', { protocol: PROTOCOL_VERSION, client: options.clientName });
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  call<M extends CallableMethod>(method: M, ...[params]: ParamsArg<M>): Promise<ResultOf<M>> {
    return this.request(method, params ?? {});
  }

  /** Passes on params this process did not build (a renderer's request): the helper checks them as it checks every call. */
  relay<M extends CallableMethod>(method: M, params: unknown): Promise<ResultOf<M>> {
    return this.request(method, params ?? {});
  }

  /** Listens to a notification stream; returns the function that stops listening. */
  on<N extends NotificationName>(name: N, listener: (params: RpcNotifications[N]) => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    set.add(listener as (params: unknown) => void);
    this.listeners.set(name, set);
    return () => set.delete(listener as (params: unknown) => void);
  }

  /** Called once when the connection ends, with why. */
  onClose(listener: (error: PortcullisError) => void): void {
    if (this.ended) listener(this.ended);
    else this.closeListeners.add(listener);
  }

  close(): void {
    this.end(new PortcullisError('unavailable', 'the connection to the helper was closed'));
    this.socket.destroy();
  }

  /** The result is the helper's answer for that method: the helper is trusted to keep to the contract. */
  private request<M extends MethodName>(method: M, params: unknown): Promise<ResultOf<M>> {
    if (this.ended) return Promise.reject(this.ended);
    const id = this.nextId++;
    return new Promise<ResultOf<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: (value) => resolve(value as ResultOf<M>), reject });
      this.socket.write(encodeLine({ jsonrpc: '2.0', id, method, params }));
    });
  }

  private onData(chunk: Buffer): void {
    for (const result of this.splitter.push(chunk)) {
      if (result.kind !== 'line') {
        this.end(new PortcullisError('protocol', `the helper sent an unreadable line (${result.kind})`));
        this.socket.destroy();
        return;
      }
      this.onMessage(result.text);
    }
  }

  private onMessage(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.end(new PortcullisError('protocol', 'the helper sent malformed JSON'));
      this.socket.destroy();
      return;
    }
    if (typeof message.method === 'string' && message.id === undefined) {
      for (const listener of this.listeners.get(message.method) ?? []) listener(message.params);
      return;
    }
    const error = message.error ? toPortcullisError(message.error) : null;
    if (message.id === null || message.id === undefined) {
      // Not tied to a request: the helper refused or gave up on this connection.
      if (error) this.end(error);
      return;
    }
    const pending = this.pending.get(message.id as number);
    if (!pending) return;
    this.pending.delete(message.id as number);
    if (error) pending.reject(error);
    else pending.resolve(message.result);
  }

  private end(error: PortcullisError): void {
    if (this.ended) return;
    this.ended = error;
    for (const pending of this.pending.values()) pending.reject(error);
    this.pending.clear();
    for (const listener of this.closeListeners) listener(error);
    this.closeListeners.clear();
  }
}

function toPortcullisError(raw: unknown): PortcullisError {
  const error = (raw ?? {}) as {
    message?: unknown;
    data?: { kind?: unknown; where?: unknown; detail?: unknown; polkitAction?: unknown };
  };
  const kind = isErrorKind(error.data?.kind) ? error.data.kind : 'internal';
  const message = typeof error.message === 'string' ? error.message : 'the helper reported an error without a message';
  return new PortcullisError(kind, message, {
    ...(typeof error.data?.where === 'string' ? { where: error.data.where } : {}),
    ...(typeof error.data?.detail === 'string' ? { detail: error.data.detail } : {}),
    ...(typeof error.data?.polkitAction === 'string' ? { polkitAction: error.data.polkitAction } : {}),
  });
}

function connectError(socketPath: string, error: NodeJS.ErrnoException): PortcullisError {
  switch (error.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new PortcullisError(
        'unavailable',
        `the helper is not running (nothing answers at ${socketPath}); start it with "sudo portcullis helper" or from the app`,
        { detail: error.code },
      );
    case 'EACCES':
      return new PortcullisError('unavailable', `cannot reach the helper socket ${socketPath}: permission denied`, {
        detail: error.code,
      });
    default:
      return new PortcullisError(
        'unavailable',
        `lost the connection to the helper at ${socketPath}: ${error.message}`,
        { detail: error.code ?? '' },
      );
  }
}

/** A socket someone other than root owns could be anyone pretending to be the helper. */
function checkSocketOwner(socketPath: string, allowNonRoot: boolean): void {
  let stats;
  try {
    stats = lstatSync(socketPath);
  } catch {
    return; // connecting reports the missing socket with the right words
  }
  if (stats.uid === 0) return;
  if (allowNonRoot && process.getuid?.() === 0) return;
  throw new PortcullisError(
    'unavailable',
    `refusing to talk to ${socketPath}: it is owned by uid ${stats.uid}, not root, so it may not be the Portcullis helper`,
  );
}
