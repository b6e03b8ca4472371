// Where the metrics endpoint listens, from helper.conf or the root-only --metrics flag. Per-app
// traffic is private, so the endpoint is never on the network: a loopback literal with a port, or a
// Unix socket whose directory's permissions decide who may read it. No host names ("localhost"
// resolves through files a machine may change), no wildcard addresses.
import { isAbsolute } from 'node:path';
import { PortcullisError } from '../../contract/index.js';

export type MetricsEndpoint = { kind: 'tcp'; host: '127.0.0.1' | '::1'; port: number } | { kind: 'unix'; path: string };

/** How many apps get their own labels; the rest are summed into one "other" series. */
export const DEFAULT_TOP_APPS = 20;
export const MAX_TOP_APPS = 500;

const ACCEPTED = '"127.0.0.1:PORT", "[::1]:PORT" or an absolute Unix socket path';

/** Parses `text` (where: the setting it came from, for the error). */
export function parseMetricsEndpoint(text: string, where: string): MetricsEndpoint {
  const refuse = (why: string) =>
    new PortcullisError('invalid-input', `${where}: "${text}" ${why}; expected ${ACCEPTED}`, { where });
  if (text.startsWith('/')) {
    if (!isAbsolute(text) || text.endsWith('/') || text.includes('\0')) throw refuse('is not a socket path');
    return { kind: 'unix', path: text };
  }
  const match = /^(?:\[([^\]]*)\]|([^[\]]*)):([0-9]{1,5})$/.exec(text);
  if (!match) throw refuse('is neither HOST:PORT nor an absolute path');
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  if (host !== '127.0.0.1' && host !== '::1') {
    throw refuse(
      `does not name a loopback address (the endpoint shows per-app traffic, so it listens on 127.0.0.1 or ::1 only${
        host === 'localhost' ? ', written as an address, not a name' : ''
      })`,
    );
  }
  if (match[1] !== undefined && host !== '::1') throw refuse('puts an IPv4 address in brackets');
  if (match[2] !== undefined && host === '::1') throw refuse('must write an IPv6 address in brackets ([::1]:PORT)');
  if (port < 1 || port > 65_535) throw refuse(`has port ${port}, outside 1-65535`);
  return { kind: 'tcp', host, port };
}

/** The URL (or socket) people and logs see. */
export function describeEndpoint(endpoint: MetricsEndpoint): string {
  if (endpoint.kind === 'unix') return `unix:${endpoint.path} (GET /metrics)`;
  const host = endpoint.host === '::1' ? '[::1]' : endpoint.host;
  return `http://${host}:${endpoint.port}/metrics`;
}

/** Validates a top-apps count from the config (an integer within bounds). */
export function parseTopApps(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_TOP_APPS)
    throw new PortcullisError(
      'invalid-input',
      `${where}: ${JSON.stringify(value)} must be a whole number from 1 to ${MAX_TOP_APPS}`,
      { where },
    );
  return value;
}
