// Other benchmarks write their own JSON into bench/results/ (datapath by the kernel engineer, events
// and helper RSS by the connections engineer, UI by the desktop engineer). The report folds in the
// newest file of each kind as it is, with where it came from.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const FOLDED_KINDS = ['datapath', 'events', 'helper-rss', 'ui'] as const;
export type FoldedKind = (typeof FOLDED_KINDS)[number];

export interface FoldedResult {
  kind: FoldedKind;
  file: string;
  modifiedAt: string;
  data: unknown;
}

/** `label` names the directory in the report (relative to the repository). */
export function foldPeerResults(dir: string, label = 'bench/results'): FoldedResult[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((name) => name.endsWith('.json'));
  const folded: FoldedResult[] = [];
  for (const kind of FOLDED_KINDS) {
    const newest = files
      .filter((name) => name.startsWith(kind))
      // "helper-rss" must not also be taken as a "helper..." prefix of something else, and vice versa.
      .filter(
        (name) => !FOLDED_KINDS.some((other) => other !== kind && other.startsWith(kind) && name.startsWith(other)),
      )
      .map((name) => ({ name, mtime: statSync(join(dir, name)).mtime }))
      .sort((a, b) => b.mtime.getTime() - a.mtime.getTime())[0];
    if (!newest) continue;
    try {
      folded.push({
        kind,
        file: join(label, newest.name),
        modifiedAt: newest.mtime.toISOString(),
        data: JSON.parse(readFileSync(join(dir, newest.name), 'utf8')),
      });
    } catch (error) {
      folded.push({
        kind,
        file: join(label, newest.name),
        modifiedAt: newest.mtime.toISOString(),
        data: { unreadable: (error as Error).message },
      });
    }
  }
  return folded;
}

/** Every numeric or string leaf of a JSON value as "a.b[2].c" = value, for a generic table. */
export function flattenLeaves(
  value: unknown,
  prefix = '',
  out: Array<[string, string | number | boolean]> = [],
): Array<[string, string | number | boolean]> {
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') {
    out.push([prefix || '(value)', value]);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => flattenLeaves(item, `${prefix}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) flattenLeaves(item, prefix ? `${prefix}.${key}` : key, out);
  }
  return out;
}
