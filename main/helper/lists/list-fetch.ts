// Downloading a subscribed list, as root: only http and https (a URL is data, never a path or a
// command), https verified against the system's CA store, conditional (ETag / Last-Modified), with
// a size and a time limit, and a body that must arrive whole. Every failure is a value that says
// why in plain words; the caller keeps the last good copy.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseListUrl } from '../../contract/index.js';

/** Debian's (and most distributions') bundle of the CAs the system trusts. */
export const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
/** Bodies larger than this are refused (lists people use are a few MB; 1M addresses are 14 MB). */
export const MAX_LIST_BYTES = 64 * 1024 * 1024;
/** The whole download, redirects included. */
export const FETCH_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;

export interface Validators {
  etag: string | null;
  lastModified: string | null;
}

export type FetchOutcome =
  | { kind: 'changed'; text: string; validators: Validators; bytes: number }
  | { kind: 'not-modified' }
  | { kind: 'failed'; error: string };

export interface FetchOptions {
  maxBytes?: number;
  timeoutMs?: number;
  /** PEM bundle for https; default: the system's CA store. */
  ca?: string | null;
}

let systemCa: string | null | undefined;
function systemCaBundle(): string | null {
  if (systemCa === undefined) {
    try {
      systemCa = readFileSync(SYSTEM_CA_FILE, 'utf8');
    } catch {
      systemCa = null; // Node's own bundle then
    }
  }
  return systemCa;
}

const describeBytes = (n: number) => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(0)} MB` : `${n} bytes`);

/** Fetches `url`; sends the validators of the last good copy so an unchanged list costs a 304. */
export async function fetchList(url: string, last: Validators, options: FetchOptions = {}): Promise<FetchOutcome> {
  const maxBytes = options.maxBytes ?? MAX_LIST_BYTES;
  const deadline = Date.now() + (options.timeoutMs ?? FETCH_TIMEOUT_MS);
  const ca = options.ca === undefined ? systemCaBundle() : options.ca;
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const checked = parseListUrl(current);
    if (!checked.ok) return { kind: 'failed', error: `${hop > 0 ? 'redirected to ' : ''}${checked.error.message}` };
    const result = await once(checked.value, last, maxBytes, deadline, ca);
    if (result.kind !== 'redirect') return result;
    current = new URL(result.location, checked.value).toString();
  }
  return { kind: 'failed', error: `more than ${MAX_REDIRECTS} redirects` };
}

type Hop = FetchOutcome | { kind: 'redirect'; location: string };

function once(url: string, last: Validators, maxBytes: number, deadline: number, ca: string | null): Promise<Hop> {
  return new Promise((resolve) => {
    const left = deadline - Date.now();
    if (left <= 0) return resolve({ kind: 'failed', error: 'timed out' });
    const target = new URL(url);
    const headers: Record<string, string> = { 'user-agent': 'portcullis-helper', accept: 'text/plain, */*' };
    if (last.etag) headers['if-none-match'] = last.etag;
    if (last.lastModified) headers['if-modified-since'] = last.lastModified;
    const make = target.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (outcome: Hop) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(outcome);
    };
    const req = make(
      target,
      { method: 'GET', headers, ...(target.protocol === 'https:' && ca ? { ca } : {}) },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status >= 300 && status < 400 && status !== 304) {
          const location = response.headers.location;
          response.resume();
          return finish(
            location
              ? { kind: 'redirect', location }
              : { kind: 'failed', error: `the server answered ${status} without a Location` },
          );
        }
        if (status === 304) {
          response.resume();
          return finish({ kind: 'not-modified' });
        }
        if (status !== 200) {
          response.resume();
          return finish({
            kind: 'failed',
            error: `the server answered ${status} ${response.statusMessage ?? ''}`.trim(),
          });
        }
        const declared = response.headers['content-length'] ? Number(response.headers['content-length']) : null;
        if (declared !== null && declared > maxBytes)
          return finish({
            kind: 'failed',
            error: `the list is ${describeBytes(declared)}, more than the ${describeBytes(maxBytes)} a list may be`,
          });
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxBytes)
            return finish({
              kind: 'failed',
              error: `the list is longer than the ${describeBytes(maxBytes)} a list may be; download stopped`,
            });
          chunks.push(chunk);
        });
        response.on('aborted', () =>
          finish({ kind: 'failed', error: `the download broke off after ${describeBytes(bytes)}` }),
        );
        response.on('error', (error) =>
          finish({ kind: 'failed', error: `the download broke off after ${describeBytes(bytes)}: ${error.message}` }),
        );
        response.on('end', () => {
          if (!response.complete || (declared !== null && bytes !== declared))
            return finish({
              kind: 'failed',
              error: `the download broke off after ${describeBytes(bytes)}${declared !== null ? ` of ${describeBytes(declared)}` : ''}`,
            });
          const text = new TextDecoder('utf-8').decode(Buffer.concat(chunks));
          const header = (name: string) => {
            const value = response.headers[name];
            return typeof value === 'string' ? value : null;
          };
          finish({
            kind: 'changed',
            text,
            bytes,
            validators: { etag: header('etag'), lastModified: header('last-modified') },
          });
        });
      },
    );
    const timer = setTimeout(() => finish({ kind: 'failed', error: 'timed out' }), left);
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish({ kind: 'failed', error: `cannot fetch ${target.host}: ${error.code ?? error.message}` }),
    );
    req.end();
  });
}
