// The helper's socket: created in a root-owned directory, every peer checked with SO_PEERCRED
// before a byte of its input is read. File modes do not decide access (the socket is 0666).
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { PortcullisError, RPC_CODES } from '../../contract/index.js';
import type { PeerCredentials } from '../../../native/api.js';
import { RpcConnection } from './connection.js';
import { dispatch, type HandlerTable } from './handler.js';

export interface RpcServerOptions {
  socketPath: string;
  handlers: HandlerTable;
  version: string;
  /** SO_PEERCRED of an accepted socket. */
  peerOf(socket: Socket): PeerCredentials;
  /** Whether this uid may use the helper (asked for every connection, so settings changes apply). */
  isAuthorized(uid: number): boolean;
  log(message: string): void;
}

export class RpcServer {
  private readonly server: Server;
  private readonly connections = new Set<RpcConnection>();

  private constructor(private readonly options: RpcServerOptions) {
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
    await closed;
  }

  private accept(socket: Socket): void {
    let peer: PeerCredentials;
    try {
      peer = this.options.peerOf(socket);
    } catch (error) {
      this.options.log(`refused a connection: its peer credentials could not be read (${(error as Error).message})`);
      socket.destroy();
      return;
    }
    const { handlers, version, log } = this.options;
    const connection = new RpcConnection(socket, peer, {
      dispatch: (method, params, caller) => dispatch(handlers, method, params, { connection: caller }),
      version,
      log,
    });
    if (!this.options.isAuthorized(peer.uid)) {
      this.options.log(`refused uid ${peer.uid} (pid ${peer.pid}): not authorised`);
      connection.fail(
        RPC_CODES.application,
        `uid ${peer.uid} is not authorised to use the Portcullis helper; root can allow it with "portcullis settings" (authorizedUsers) or start the helper as that user through polkit`,
        { kind: 'unauthorized' },
        true,
      );
      return;
    }
    this.connections.add(connection);
    connection.onClose(() => this.connections.delete(connection));
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
