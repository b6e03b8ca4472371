// The browser shell: serves the built renderer on 127.0.0.1 and speaks the renderer API over a
// WebSocket. Only loopback, only with this launch's random token, only from our own origin (a web
// page elsewhere cannot reach it: wrong Origin, and it cannot learn the token), and every request
// goes through the same dispatchInvoke gate as Electron's ipcMain.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ipcChannel, type IpcNotifyName, type PayloadOf } from '../contract/index.js';
import { dispatchInvoke } from '../app/ipc-dispatch.js';
import type { IpcBackend } from '../app/ipc-backend.js';

export interface ShellOptions {
  backend: Pick<IpcBackend, 'handlers' | 'subscribe'>;
  rendererDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  log?: (message: string) => void;
}

export interface ShellServer {
  /** The address to open, token included (in the fragment, so it never reaches a request line). */
  url: string;
  origin: string;
  token: string;
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

export async function startShellServer(options: ShellOptions): Promise<ShellServer> {
  const log = options.log ?? ((message: string) => console.error(message));
  const root = resolve(options.rendererDir);
  const token = randomBytes(24).toString('base64url');
  const tokenBytes = Buffer.from(token);
  let origin = '';
  let host = '';

  const server = createServer((request, response) => void serveFile(request, response));
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  async function serveFile(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.headers.host !== host) return refuse(response, 421, 'wrong host'); // DNS rebinding
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'method not allowed');
    const path = decodeURIComponent(new URL(request.url ?? '/', origin).pathname);
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

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(request.url ?? '/', origin);
    const given = Buffer.from(url.searchParams.get('token') ?? '');
    const tokenOk = given.length === tokenBytes.length && timingSafeEqual(given, tokenBytes);
    const allowed =
      url.pathname === '/ipc' && tokenOk && request.headers.origin === origin && request.headers.host === host;
    if (!allowed) {
      log(
        `portcullis shell: refused a WebSocket (${!tokenOk ? 'bad token' : request.headers.origin !== origin ? `origin ${request.headers.origin ?? 'none'}` : 'bad path or host'})`,
      );
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => serveClient(ws));
  });

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
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ready());
  });
  const { port } = server.address() as AddressInfo;
  host = `127.0.0.1:${port}`;
  origin = `http://${host}`;

  return {
    url: `${origin}/#token=${token}`,
    origin,
    token,
    close: () =>
      new Promise<void>((done) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function refuse(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  response.end(`${message}\n`);
}
