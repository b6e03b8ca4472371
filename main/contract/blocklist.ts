// Imported lists: a hosts file ("0.0.0.0 ads.example.com") or one address, CIDR or domain per line.
// Every line either becomes a remote or is reported as skipped with its line number and reason.
import { formatRemote, parseRemote } from './rules.js';

export interface ParsedList {
  /** Canonical remotes ("10.0.0.0/8", "ads.example.com"), deduplicated, in file order. */
  remotes: string[];
  skipped: Array<{ line: number; text: string; reason: string }>;
}

/** Hosts files point names at these to block them; the address itself is not a target. */
const SINK_ADDRESSES = new Set(['0.0.0.0', '127.0.0.1', '::', '::1', '::0']);
/** Names every hosts file carries for the machine itself. */
const LOCAL_NAMES = new Set([
  'localhost',
  'localhost.localdomain',
  'local',
  'broadcasthost',
  'ip6-localhost',
  'ip6-loopback',
  '0.0.0.0',
]);

export function parseBlocklist(text: string): ParsedList {
  const remotes: string[] = [];
  const seen = new Set<string>();
  const skipped: ParsedList['skipped'] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = index + 1;
    const content = raw.replace(/#.*$/, '').trim();
    if (content === '') return;
    const fields = content.split(/\s+/);
    const targets = fields.length > 1 && SINK_ADDRESSES.has(fields[0]!) ? fields.slice(1) : fields;
    if (fields.length > 1 && targets === fields) {
      skipped.push({
        line,
        text: raw.slice(0, 200),
        reason: `expected one entry per line, or "0.0.0.0 name" hosts format; found ${fields.length} fields`,
      });
      return;
    }
    for (const target of targets) {
      if (LOCAL_NAMES.has(target.toLowerCase())) {
        skipped.push({
          line,
          text: target,
          reason: 'names this machine itself; blocking it would break local services',
        });
        continue;
      }
      const remote = parseRemote(target, `line ${line}`);
      if (!remote.ok) {
        skipped.push({ line, text: target.slice(0, 200), reason: remote.error.message });
        continue;
      }
      if (remote.value.kind === 'any') {
        skipped.push({ line, text: target, reason: '"any" would block everything; not imported' });
        continue;
      }
      const canonical = formatRemote(remote.value);
      if (seen.has(canonical)) {
        skipped.push({ line, text: target, reason: 'duplicate of an earlier line' });
        continue;
      }
      seen.add(canonical);
      remotes.push(canonical);
    }
  });
  return { remotes, skipped };
}
