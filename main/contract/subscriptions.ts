// Subscriptions: lists the helper fetches from a URL on a schedule. What a client sends to add one,
// and how a schedule is written.
import { fail, ok, s, type Result } from './schema.js';
import { ACTIONS, parseDuration } from './rules.js';
import { LINE_FORMATS } from './list-formats.js';
import { listNameSchema } from './lists.js';

/** The fewest milliseconds between two fetches of a list (lists are published daily or hourly). */
export const MIN_EVERY_MS = 15 * 60_000;
export const DEFAULT_EVERY_MS = 24 * 3_600_000;

const UNITS: Array<[string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** A schedule in the largest unit that divides it: 86 400 000 -> "1d", 5 400 000 -> "90m". */
export function formatEvery(ms: number): string {
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

/** "24h", "6h", "7d": how often a list is fetched, at least every 15 minutes. */
export function parseEvery(text: string, where = 'every'): Result<number> {
  const ms = parseDuration(text, where);
  if (!ms.ok) return ms;
  if (ms.value < MIN_EVERY_MS) return fail(where, `"${text}" is too often: fetch a list at most every 15m`);
  return ok(ms.value);
}

/** Only http and https: a URL is data the helper fetches, never a path it opens or a command it runs. */
export function parseListUrl(text: string, where = 'url'): Result<string> {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return fail(where, `"${text.slice(0, 100)}" is not a URL (give http://… or https://…)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return fail(where, `"${url.protocol}" URLs are not fetched: give an http:// or https:// URL`);
  if (url.username || url.password) return fail(where, 'a URL with a user name or password is not accepted');
  return ok(url.toString());
}

export const everySchema = s.map(s.string({ max: 20 }), 'a duration like 24h', parseEvery);
export const listUrlSchema = s.map(s.string({ min: 1, max: 2000 }), 'an http(s) URL', parseListUrl);

export const subscribeSchema = s.object({
  url: listUrlSchema,
  name: s.optional(listNameSchema),
  format: s.optional(s.oneOf(LINE_FORMATS)),
  action: s.optional(s.oneOf(ACTIONS)),
  every: s.optional(everySchema),
});
