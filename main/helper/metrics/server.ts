// The metrics endpoint: GET /metrics over HTTP on a loopback address or a Unix socket, nothing
// else. Scrapes arriving together share one rendering; connections are few and short-lived, so a
// local process cannot make the helper hold many. Over TCP the Host header must name a loopback
// address: a web page that rebinds its own name to 127.0.0.1 cannot read the metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync } from 'node:fs';
import { PortcullisError } from '../../contract/index.js';
import { prepareSocketPath } from '../rpc/server.js';
import { CONTENT_TYPE } from './exposition.js';
import { describeEndpoint, type MetricsEndpoint } from './endpoint.js';

const MAX_CONNECTIONS = 16;
const REQUEST_TIMEOUT_MS = 10_000;
const LOOPBACK_HOST = /^(?:127\.0\.0\.1|\[::1\]|localhost)(?::[0-9]{1,5})?$/i;

export interface MetricsServerOptions {
  endpoint: MetricsEndpoint;
  /** The exposition text (one snapshot, rendered). */
  render(): Promise<string>;
  log(message: string): void;
}

export class MetricsServer {
  private inFlight: Promise<string> | null = null;
  private failuresLogged = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: MetricsServerOptions,
  ) {}

  static async listen(options: MetricsServerOptions): Promise<MetricsServer> {
    const { endpoint } = options;
    if (endpoint.kind === 'unix') await prepareSocketPath(endpoint.path);
    let metrics: MetricsServer | null = null;
    const server = createServer((request, response) => metrics!.handle(request, response));
    server.maxConnections = MAX_CONNECTIONS;
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    server.keepAliveTimeout = 5_000;
    metrics = new MetricsServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(new Error(`metrics: cannot listen on ${describeEndpoint(endpoint)}: ${error.code ?? error.message}`)),
      );
      const ready = () => resolve();
      if (endpoint.kind === 'unix') server.listen(endpoint.path, ready);
      else server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only: endpoint.host === '::1' }, ready);
    });
    server.removeAllListeners('error');
    server.on('error', (error) => options.log(`metrics: ${error.message}`));
    // Who may connect is decided by the socket's directory (root-owned, not writable by others).
    if (endpoint.kind === 'unix') chmodSync(endpoint.path, 0o666);
    return metrics;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const reply = (status: number, text: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      response.end(text);
    };
    if (this.options.endpoint.kind === 'tcp' && !LOOPBACK_HOST.test(request.headers.host ?? ''))
      return reply(421, 'the metrics endpoint answers only to a loopback Host\n');
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics') return reply(404, 'not found: the metrics are at /metrics\n');
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return reply(405, 'only GET and HEAD\n', { allow: 'GET, HEAD' });
    this.inFlight ??= this.options.render().finally(() => {
      this.inFlight = null;
    });
    this.inFlight.then(
      (text) => {
        response.writeHead(200, { 'content-type': CONTENT_TYPE, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: Error) => {
        // Starting or stopping is expected (503, try again); other failures are logged, a few times
        // only: a scrape every few seconds must not flood the log with one failure.
        const passing = error instanceof PortcullisError && error.kind === 'unavailable';
        if (!passing && this.failuresLogged++ < 5) this.options.log(`metrics: a scrape failed: ${error.message}`);
        reply(passing ? 503 : 500, `metrics unavailable: ${error.message}\n`);
      },
    );
  }
}
