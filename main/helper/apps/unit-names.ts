// The names an app's systemd units are made with, as the kernel keys them (pcl_units): when a cgroup
// with such a name is made, the kernel binds it to the app before any of its processes runs. The key
// is the unit's name without its instance part; unitKeyOf mirrors unit_key in bpf/process.bpf.h.
import type { App } from '../../contract/index.js';
import { UNIT_MAX_BYTES } from '../../../native/app-bindings.js';
import { LAUNCHERS } from './cgroup-placement.js';

/** systemd's escaping of text in a unit name: letters, digits, ':', '_' and '.' stay, other bytes become \xNN. */
export function escapeUnitText(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9:_.]/.test(c) ? c : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/**
 * The key a unit name gives (null: none): app-*.scope without its last "-<random>", snap.*.scope
 * without its "-<uuid>", app-*.service without its "@<instance>", NAME.service without ".service"
 * (a templated service other than app-* keys nothing).
 */
export function unitKeyOf(unit: string): string | null {
  let key: string | null = null;
  if (unit.endsWith('.scope')) {
    const body = unit.slice(0, -'.scope'.length);
    if (body.startsWith('app-')) {
      const dash = body.lastIndexOf('-');
      key = dash > 4 ? body.slice(0, dash) : null;
    } else if (body.startsWith('snap.')) {
      key = body.length > 37 && body[body.length - 37] === '-' ? body.slice(0, -37) : body;
    }
  } else if (unit.endsWith('.service')) {
    const body = unit.slice(0, -'.service'.length);
    const at = body.indexOf('@');
    if (body.startsWith('app-')) key = at >= 0 ? body.slice(0, at) : body;
    else if (at < 0) key = body;
  }
  return key && Buffer.byteLength(key) <= UNIT_MAX_BYTES && !unit.includes('\0') ? key : null;
}

/** The unit (last path component) of a cgroup path, or null. */
const unitOfCgroup = (cgroup: string | null): string | null => cgroup?.split('/').filter(Boolean).pop() ?? null;

/**
 * The unit name keys of an app, and whether they bind only what root makes (system services) or are
 * claims anyone could make (desktop, Flatpak and Snap apps, user services).
 */
export function unitKeysOf(app: App): { keys: string[]; rootOnly: boolean } {
  const keys = new Set<string>();
  const seen = unitKeyOf(unitOfCgroup(app.cgroup) ?? '');
  const id = app.identifier;
  switch (app.kind) {
    case 'desktop':
      if (!id) break;
      keys.add(`app-${escapeUnitText(id)}`);
      for (const launcher of LAUNCHERS) keys.add(`app-${launcher}-${escapeUnitText(id)}`);
      if (seen?.startsWith('app-')) keys.add(seen);
      break;
    case 'flatpak':
      if (id) keys.add(`app-flatpak-${escapeUnitText(id)}`);
      break;
    case 'snap':
      if (id) keys.add(id.includes('.') ? `snap.${id}` : `snap.${id}.${id}`);
      break;
    case 'service': {
      const key = id ? unitKeyOf(id) : null;
      if (key) keys.add(key);
      // A system service's cgroup is made by PID 1 (root); a user service's by the user's manager.
      return { keys: [...keys].filter(fits), rootOnly: !app.cgroup?.includes('/user@') };
    }
    default:
      break;
  }
  return { keys: [...keys].filter(fits), rootOnly: false };
}

const fits = (key: string): boolean => Buffer.byteLength(key) <= UNIT_MAX_BYTES;
