// One client connection: framing, the JSON-RPC envelope, the hello gate, and writes. What a method
// does (and the check of its params) is the dispatcher's, given by the server.
import type { Socket } from 'node:net';
import {
  PROTOCOL_VERSION,
  MAX_LINE_BYTES,
  RPC_CODES,
  PortcullisError,
  invalidInput,
  isMethodName,
  rpcMethods,
  type HelloResult,
  type PortcullisErrorData,
  type RpcNotifications,
  type NotificationName,
  type MethodName,
} from '../../contract/index.js';
import { LineSplitter, encodeLine } from '../../common/json-lines.js';
import type { PeerCredentials } from '../../../native/api.js';

type Id = number | string | null;
type Code = (typeof RPC_CODES)[keyof typeof RPC_CODES];

export interface ConnectionOptions {
  /** Runs a method other than hello for this connection; its params are as received. */
  dispatch(method: Exclude<MethodName, 'hello'>, params: unknown, connection: RpcConnection): Promise<unknown>;
  version: string;
  log(message: string): void;
}

let nextConnectionId = 1;
/** Replies a client has left unread beyond which it is cut off (it keeps asking but never reads). */
const MAX_UNREAD_REPLY_BYTES = 64 * 1024 * 1024;
/** How long a refused or cut-off client gets to read our error before the socket is destroyed. */
const HANG_UP_GRACE_MS = 2000;

export class RpcConnection {
  readonly id = nextConnectionId++;
  private readonly splitter = new LineSplitter(MAX_LINE_BYTES);
  private helloDone = false;
  private hangingUp = false;
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];
  clientName = '';

  constructor(
    readonly socket: Socket,
    readonly peer: PeerCredentials,
    private readonly options: ConnectionOptions,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {
      /* a client vanishing is normal; 'close' follows */
    });
    socket.on('close', () => {
      this.closed = true;
      for (const listener of this.closeListeners.splice(0)) listener();
    });
  }

  get isOpen(): boolean {
    return !this.closed && !this.socket.destroyed;
  }

  /** Bytes queued for this client that the kernel has not taken yet. */
  get backlogBytes(): number {
    return this.socket.writableLength;
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  notify<N extends NotificationName>(method: N, params: RpcNotifications[N]): boolean {
    return this.write({ jsonrpc: '2.0', method, params });
  }

  /** Sends an error not tied to a request (refusals, framing errors) and optionally hangs up. */
  fail(code: Code, message: string, data: PortcullisErrorData, hangUp: boolean): void {
    this.respondError(null, code, message, data);
    if (!hangUp) return;
    // Half-close: the error goes out, and what the client still sends is read and discarded, so its
    // writes do not fail (EPIPE) before it has read why. A client that never closes is cut off.
    this.hangingUp = true;
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), HANG_UP_GRACE_MS);
    timer.unref();
    this.socket.once('close', () => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(message: unknown): boolean {
    if (!this.isOpen) return false;
    if (this.socket.writableLength > MAX_UNREAD_REPLY_BYTES) {
      this.options.log(`closing ${this.describe()}: ${this.socket.writableLength} bytes of replies unread`);
      this.socket.destroy();
      return false;
    }
    return this.socket.write(encodeLine(message));
  }

  private respondError(id: Id, code: Code, message: string, data: PortcullisErrorData): void {
    this.write({ jsonrpc: '2.0', id, error: { code, message, data } });
  }

  private onData(chunk: Buffer): void {
    if (this.hangingUp) return;
    for (const result of this.splitter.push(chunk)) {
      if (result.kind === 'too-long') {
        this.options.log(`client ${this.describe()}: line longer than ${result.limit} bytes, closing`);
        this.fail(
          RPC_CODES.invalidRequest,
          `request line is longer than ${result.limit} bytes; the connection is closed`,
          { kind: 'protocol' },
          true,
        );
        return;
      }
      if (result.kind === 'invalid-utf8') {
        this.respondError(null, RPC_CODES.parseError, `request line of ${result.bytes} bytes is not valid UTF-8`, {
          kind: 'protocol',
        });
        continue;
      }
      if (result.text.trim() === '') continue;
      void this.onLine(result.text);
    }
  }

  private async onLine(text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (error) {
      this.respondError(null, RPC_CODES.parseError, `malformed JSON: ${(error as Error).message}`, {
        kind: 'protocol',
      });
      return;
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      this.respondError(null, RPC_CODES.invalidRequest, 'a request must be a JSON object (batches are not supported)', {
        kind: 'protocol',
      });
      return;
    }
    const request = message as Record<string, unknown>;
    const id = typeof request.id === 'number' || typeof request.id === 'string' ? request.id : null;
    if (request.jsonrpc !== '2.0')
      return this.respondError(id, RPC_CODES.invalidRequest, 'request.jsonrpc must be "2.0"', {
        kind: 'protocol',
        where: 'jsonrpc',
      });
    if (id === null)
      return this.respondError(
        null,
        RPC_CODES.invalidRequest,
        'request.id must be a number or a string (notifications to the helper are not supported)',
        { kind: 'protocol', where: 'id' },
      );
    if (typeof request.method !== 'string')
      return this.respondError(id, RPC_CODES.invalidRequest, 'request.method must be a string', {
        kind: 'protocol',
        where: 'method',
      });
    const method = request.method;
    if (!isMethodName(method))
      return this.respondError(id, RPC_CODES.methodNotFound, `unknown method "${method.slice(0, 100)}"`, {
        kind: 'not-found',
        where: 'method',
      });
    if (!this.helloDone && method !== 'hello') {
      return this.respondError(id, RPC_CODES.invalidRequest, `send "hello" first (got "${method}" before it)`, {
        kind: 'protocol',
      });
    }
    try {
      const result =
        method === 'hello' ? this.hello(request.params) : await this.options.dispatch(method, request.params, this);
      this.write({ jsonrpc: '2.0', id, result });
    } catch (error) {
      if (error instanceof PortcullisError) {
        const code =
          error.kind === 'invalid-input'
            ? RPC_CODES.invalidParams
            : error.kind === 'protocol'
              ? RPC_CODES.invalidRequest
              : RPC_CODES.application;
        this.respondError(id, code, error.message, error.toData());
      } else {
        this.options.log(
          `internal error in ${method} for ${this.describe()}: ${(error as Error).stack ?? String(error)}`,
        );
        this.respondError(id, RPC_CODES.internal, `internal error in ${method}: ${(error as Error).message}`, {
          kind: 'internal',
        });
      }
    }
  }

  private hello(raw: unknown): HelloResult {
    const parsed = rpcMethods.hello.params.parse(raw, 'params');
    if (!parsed.ok) throw invalidInput(parsed.error);
    const params = parsed.value;
    if (params.protocol !== PROTOCOL_VERSION) {
      throw new PortcullisError(
        'protocol',
        `this helper speaks protocol ${PROTOCOL_VERSION}, the client speaks ${params.protocol}; update the one that is older`,
      );
    }
    this.helloDone = true;
    this.clientName = params.client;
    return { protocol: PROTOCOL_VERSION, version: this.options.version, uid: this.peer.uid };
  }

  describe(): string {
    return `#${this.id} uid ${this.peer.uid} pid ${this.peer.pid}${this.clientName ? ` (${this.clientName})` : ''}`;
  }
}
