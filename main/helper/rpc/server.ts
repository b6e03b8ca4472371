// The helper's socket: created in a root-owned directory, every peer checked with SO_PEERCRED
// before a byte of its input is read. File modes do not decide access (the socket is 0666), so a
// refused peer costs the helper one accept, one write and a bounded moment: it never holds a
// connection slot, and its refusals are logged once per uid and interval (see admission.ts).
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortcullisError, RPC_CODES, type ErrorKind } from '../../contract/index.js';
import { encodeLine } from '../../common/json-lines.js';
import type { PeerCredentials } from '../../../native/api.js';
import { RpcConnection } from './connection.js';
import { dispatch, type HandlerTable } from './handler.js';
import { Admission, DEFAULT_LIMITS, type AdmissionLimits } from './admission.js';

/**
 * The longest a refused peer stays open waiting for its first bytes. A client writes its hello as
 * soon as it connects; closing before that write lands makes it fail (EPIPE) before the client has
 * read why it was refused, so a refused peer is closed once it has written, or after this.
 */
const REFUSAL_LINGER_MS = 250;

export interface RpcServerOptions {
  socketPath: string;
  handlers: HandlerTable;
  version: string;
  /** SO_PEERCRED of an accepted socket. */
  peerOf(socket: Socket): PeerCredentials;
  /** Whether this uid may use the helper (asked for every connection, so settings changes apply). */
  isAuthorized(uid: number): boolean;
  log(message: string): void;
  /** Connection limits; the defaults suit a desktop (tests lower them). */
  limits?: Partial<AdmissionLimits>;
}

export class RpcServer {
  private readonly server: Server;
  private readonly connections = new Set<RpcConnection>();
  private readonly admission: Admission;

  private constructor(private readonly options: RpcServerOptions) {
    this.admission = new Admission({ ...DEFAULT_LIMITS, ...options.limits }, options.log);
    this.server = createServer((socket) => this.accept(socket));
  }

  static async listen(options: RpcServerOptions): Promise<RpcServer> {
    await prepareSocketPath(options.socketPath);
    const server = new RpcServer(options);
    await new Promise<void>((resolve, reject) => {
      server.server.once('error', reject);
      server.server.listen(options.socketPath, () => {
        server.server.off('error', reject);
        resolve();
      });
    });
    chmodSync(options.socketPath, 0o666);
    return server;
  }

  /** Closes the connections of peers no longer authorised (after the authorised users changed). */
  dropUnauthorized(): void {
    for (const connection of this.connections) {
      if (this.options.isAuthorized(connection.peer.uid)) continue;
      this.options.log(`closing ${connection.describe()}: no longer authorised`);
      connection.fail(
        RPC_CODES.application,
        `uid ${connection.peer.uid} is no longer authorised to use the Portcullis helper`,
        { kind: 'unauthorized' },
        true,
      );
    }
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const connection of this.connections) connection.destroy();
    this.admission.close();
    await closed;
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {
      /* a peer vanishing is normal; 'close' follows */
    });
    let peer: PeerCredentials;
    try {
      peer = this.options.peerOf(socket);
    } catch (error) {
      // Not something a peer can cause on a unix socket, so worth a line each time.
      this.options.log(`refused a connection: its peer credentials could not be read (${(error as Error).message})`);
      socket.destroy();
      return;
    }
    if (!this.options.isAuthorized(peer.uid)) {
      return this.refuse(
        socket,
        peer,
        'not authorised',
        'unauthorized',
        `uid ${peer.uid} is not authorised to use the Portcullis helper; root can allow it with "portcullis settings" (authorizedUsers) or start the helper as that user through polkit`,
      );
    }
    const release = this.admission.serve(peer.uid);
    if (!release) {
      const held = this.admission.servedBy(peer.uid);
      const limits = this.admission.limits;
      const which =
        held >= limits.servedPerUid
          ? `uid ${peer.uid} already has ${held} connections open (at most ${limits.servedPerUid})`
          : `the helper serves at most ${limits.servedTotal} connections`;
      return this.refuse(socket, peer, 'at the connection limit', 'unavailable', `${which}; close some and try again`);
    }
    const { handlers, version, log } = this.options;
    const connection = new RpcConnection(socket, peer, {
      dispatch: (method, params, caller) => dispatch(handlers, method, params, { connection: caller }),
      version,
      log,
    });
    this.connections.add(connection);
    connection.onClose(() => {
      this.connections.delete(connection);
      release();
    });
  }

  /** Tells the peer why, then closes: once its first bytes arrive (within a small budget) or at once. */
  private refuse(socket: Socket, peer: PeerCredentials, reason: string, kind: ErrorKind, message: string): void {
    this.admission.refused(peer.uid, peer.pid, reason);
    socket.write(
      encodeLine({ jsonrpc: '2.0', id: null, error: { code: RPC_CODES.application, message, data: { kind } } }),
    );
    const release = this.admission.linger(peer.uid);
    if (!release) {
      socket.destroy(); // the refusal is in the peer's queue unless its own write already failed
      return;
    }
    socket.end();
    const close = () => socket.destroy();
    socket.once('data', close);
    socket.once('end', close);
    const timer = setTimeout(close, REFUSAL_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      release();
    });
  }
}

/**
 * Makes the socket's directory (0755, root's) if needed and refuses a directory someone else could
 * swap the socket in. Removes a stale socket; refuses when another helper still answers on it.
 */
export async function prepareSocketPath(socketPath: string): Promise<void> {
  const dir = dirname(socketPath);
  if (!existsSync(dir)) {
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755); // mkdir's mode is filtered by the umask
  }
  const stats = statSync(dir);
  if (stats.uid !== 0)
    throw new PortcullisError(
      'internal',
      `socket directory ${dir} is owned by uid ${stats.uid}, not root; refusing to serve there`,
    );
  if ((stats.mode & 0o022) !== 0) {
    throw new PortcullisError(
      'internal',
      `socket directory ${dir} is writable by group or others (mode ${(stats.mode & 0o777).toString(8)}); refusing to serve there`,
    );
  }
  if (!existsSync(socketPath)) return;
  if (!lstatSync(socketPath).isSocket())
    throw new PortcullisError('internal', `${socketPath} exists and is not a socket; refusing to replace it`);
  if (await answers(socketPath))
    throw new PortcullisError('internal', `another helper is already serving on ${socketPath}`);
  unlinkSync(socketPath);
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
