// The browser shell: serves the built renderer on 127.0.0.1 and speaks the renderer API over a
// WebSocket, to one person's browser only. Each TCP connection is admitted by the kernel's word on
// who owns its other end (the launching uid, nobody else); the WebSocket also needs the session
// cookie the browser got by signing in once with the launch page's one-time code, our own Origin
// (a web page elsewhere cannot reach it) and our Host (DNS rebinding). Every request goes through
// the same dispatchInvoke gate as Electron's ipcMain.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ipcChannel, type IpcNotifyName, type PayloadOf } from '../contract/index.js';
import { dispatchInvoke } from '../app/ipc-dispatch.js';
import type { IpcBackend } from '../app/ipc-backend.js';
import { RefusalLog } from '../common/refusal-log.js';
import { tcpPeerUid } from './tcp-peer-uid.js';
import { LaunchPage } from './launch-page.js';
import { SignIn } from './sign-in.js';

export interface ShellOptions {
  backend: Pick<IpcBackend, 'handlers' | 'subscribe'>;
  rendererDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  log?: (message: string) => void;
  /** Where the launch page's private directory is made (default: the user's runtime directory). */
  launchDir?: string;
}

export interface ShellServer {
  origin: string;
  /**
   * The launch page's file:// address: what to give the browser. It names a file only this user
   * can read; the one-time code inside never appears on a command line.
   */
  launchUrl: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};
/** Also sent as a header, which (unlike the page's meta tag) can forbid framing. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors 'none'";
/** A client this far behind gets no more live events until it catches up (counted as dropped). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
/** Where the launch page sends the browser with its code. */
const SIGN_IN_PATH = '/sign-in';

export async function startShellServer(options: ShellOptions): Promise<ShellServer> {
  const log = options.log ?? ((message: string) => console.error(message));
  const root = resolve(options.rendererDir);
  const uid = process.getuid?.() ?? -1;
  const refusals = new RefusalLog(60_000, (line) => log(`portcullis shell: ${line}`));
  let origin = '';
  let host = '';
  // Made once the port is known: the cookie's name carries it.
  let signIn: SignIn | null = null;
  let page: LaunchPage | null = null;

  const http = createHttpServer((request, response) => {
    serveRequest(request, response).catch((error: unknown) => failed(response, error));
  });
  http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      upgrade(request, socket, head);
    } catch (error) {
      log(`portcullis shell: WebSocket upgrade failed: ${(error as Error).message}`);
      socket.destroy();
    }
  });
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  // TCP connections are admitted here, paused, before HTTP reads a byte of them.
  const admitted = new Set<Socket>();
  const listener = createNetServer({ pauseOnConnect: true }, (socket) => void admit(socket));

  async function admit(socket: Socket): Promise<void> {
    socket.on('error', () => {
      /* a peer vanishing is normal */
    });
    const owner = await tcpPeerUid(
      { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
      { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
    ).catch(() => null);
    if (owner !== uid) {
      refusals.note(
        owner ?? -1,
        null,
        owner === null ? "a connection the kernel's socket table does not list" : 'not the user who started the shell',
      );
      socket.destroy();
      return;
    }
    admitted.add(socket);
    socket.once('close', () => admitted.delete(socket));
    http.emit('connection', socket);
    socket.resume();
  }

  async function serveRequest(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.headers.host !== host) return refuse(response, 421, 'wrong host'); // DNS rebinding
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'method not allowed');
    let url: URL;
    let path: string;
    try {
      url = new URL(request.url ?? '/', origin);
      path = decodeURIComponent(url.pathname);
    } catch {
      return refuse(response, 400, 'malformed address');
    }
    if (path === SIGN_IN_PATH) return signInWith(url.searchParams.get('code') ?? '', response);
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root + sep)) return refuse(response, 404, 'not found');
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return refuse(response, 404, 'not found');
    }
    response.writeHead(200, {
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    });
    response.end(request.method === 'HEAD' ? undefined : body);
  }

  /** The launch page's code, once: a session cookie and on to the app; the page gets the next code. */
  function signInWith(code: string, response: ServerResponse): void {
    const session = signIn!.exchange(code);
    if (session === null) {
      log('portcullis shell: refused a sign-in with a code that is not the live one');
      return refuse(
        response,
        403,
        `this sign-in link was used already or is not this shell's; open ${page!.url} again`,
      );
    }
    page!.write(signInUrl());
    log('portcullis shell: a browser signed in');
    response.writeHead(303, {
      Location: '/',
      'Set-Cookie': signIn!.cookieFor(session),
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    });
    response.end();
  }

  function upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', origin);
    const problem =
      url.pathname !== '/ipc'
        ? 'bad path'
        : request.headers.host !== host
          ? 'bad host'
          : request.headers.origin !== origin
            ? `origin ${request.headers.origin ?? 'none'}`
            : !signIn!.hasSession(request.headers.cookie)
              ? 'not signed in'
              : null;
    if (problem) {
      log(`portcullis shell: refused a WebSocket (${problem})`);
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => serveClient(ws));
  }

  function failed(response: ServerResponse, error: unknown): void {
    log(`portcullis shell: a request failed: ${(error as Error).stack ?? String(error)}`);
    if (!response.headersSent) refuse(response, 500, 'internal error');
    else response.destroy();
  }

  function serveClient(ws: WebSocket): void {
    let droppedEvents = 0;
    const send = (frame: unknown) => ws.send(JSON.stringify(frame));
    const unsubscribe = options.backend.subscribe(<K extends IpcNotifyName>(name: K, payload: PayloadOf<K>) => {
      if (ws.readyState !== ws.OPEN) return;
      if (name === 'events') {
        const batch = payload as PayloadOf<'events'>;
        if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
          droppedEvents += batch.events.length;
          return;
        }
        send({ channel: ipcChannel(name), payload: { events: batch.events, dropped: batch.dropped + droppedEvents } });
        droppedEvents = 0;
        return;
      }
      send({ channel: ipcChannel(name), payload });
    });
    ws.on('close', unsubscribe);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return ws.close(1003, 'text frames only');
      let frame: { id?: unknown; channel?: unknown; request?: unknown };
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return ws.close(1007, 'malformed JSON');
      }
      if (
        typeof frame.id !== 'number' ||
        typeof frame.channel !== 'string' ||
        !frame.channel.startsWith('portcullis:')
      ) {
        return ws.close(1008, 'expected { id, channel, request }');
      }
      const id = frame.id;
      void dispatchInvoke(options.backend.handlers, frame.channel.slice('portcullis:'.length), frame.request, log).then(
        (result) => {
          if (ws.readyState === ws.OPEN) send({ id, result });
        },
      );
    });
  }

  await new Promise<void>((ready, fail) => {
    listener.once('error', fail);
    listener.listen(options.port ?? 0, '127.0.0.1', () => ready());
  });
  const { port } = listener.address() as AddressInfo;
  host = `127.0.0.1:${port}`;
  origin = `http://${host}`;
  signIn = new SignIn(`portcullis-shell-${port}`);
  const signInUrl = () => `${origin}${SIGN_IN_PATH}?code=${signIn!.currentCode}`;
  page = LaunchPage.create(options.launchDir);
  page.write(signInUrl());

  return {
    origin,
    launchUrl: page.url,
    close: () =>
      new Promise<void>((done) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        for (const socket of admitted) socket.destroy();
        refusals.flush();
        page!.remove();
        listener.close(() => done());
      }),
  };
}

function refuse(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  response.end(`${message}\n`);
}
