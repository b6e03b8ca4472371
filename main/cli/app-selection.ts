// Turning what people type for --app and --since into query values: an app by id, executable
// path or name; a time as a duration ago ("10m"), an ISO date/time, or ms since the epoch.
import { PortcullisError, parseDuration, type App } from '../contract/index.js';

/** Finds one app: its id, its executable path, or its name / identifier (case-insensitive). */
export function selectApp(apps: readonly App[], text: string, where = '--app'): App {
  const trimmed = text.trim();
  if (/^[0-9]+$/.test(trimmed)) {
    const byId = apps.find((app) => app.id === Number(trimmed));
    if (!byId)
      throw new PortcullisError(
        'invalid-input',
        `${where}: there is no app with id ${trimmed} (see "portcullis apps")`,
        { where },
      );
    return byId;
  }
  const lower = trimmed.toLowerCase();
  const matches = trimmed.startsWith('/')
    ? apps.filter((app) => app.exe === trimmed)
    : apps.filter((app) => app.name.toLowerCase() === lower || app.identifier?.toLowerCase() === lower);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new PortcullisError(
      'invalid-input',
      `${where}: no app is called "${trimmed}" (give an id, an executable path or a name from "portcullis apps")`,
      { where },
    );
  throw new PortcullisError(
    'invalid-input',
    `${where}: "${trimmed}" names ${matches.length} apps (ids ${matches.map((a) => a.id).join(', ')}); give the id`,
    { where },
  );
}

/** "10m" (that long ago), "2026-11-25T01:00:00Z" / "2026-11-25", or ms since the epoch. */
export function parseSince(text: string, now: number, where = '--since'): number {
  const trimmed = text.trim();
  if (/^[0-9]+(s|m|h|d)$/.test(trimmed)) {
    const duration = parseDuration(trimmed, where);
    if (!duration.ok) throw new PortcullisError('invalid-input', `${where}: ${duration.error.message}`, { where });
    return now - duration.value;
  }
  if (/^[0-9]{10,}$/.test(trimmed)) return Number(trimmed);
  if (
    /^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$/.test(
      trimmed,
    )
  ) {
    const time = Date.parse(trimmed.replace(' ', 'T'));
    if (!Number.isNaN(time)) return time;
  }
  throw new PortcullisError(
    'invalid-input',
    `${where}: "${trimmed}" is not a time: use a duration ago (90s, 10m, 2h, 7d), a date/time like 2026-11-25T14:00, or ms since the epoch`,
    { where },
  );
}
