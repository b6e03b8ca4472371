// Turns what is known about a process into the application a person recognises, and the key that
// keeps its id stable in the store: desktop apps by desktop id, Flatpak and Snap by their ids,
// services by unit, containers by id, everything else by executable path (never by inode, so an
// update that replaces the file keeps the identity).
import { basename } from 'node:path';
import type { App, AppKind } from '../../contract/index.js';
import { placementOf } from './cgroup-placement.js';
import type { DesktopEntry, DesktopLookup } from './desktop-entries.js';

export interface ProcessFacts {
  pid: number;
  /** The executable's path ("(deleted)" removed after an update replaced it); null for kernel threads or a process gone. */
  exe: string | null;
  /** cgroup v2 path relative to the hierarchy's root ("/system.slice/sshd.service"), or null. */
  cgroup: string | null;
  comm: string;
  uid: number;
  /** The AppImage file this process runs from (APPIMAGE, or the runtime that mounted its image), or null. */
  appImage: string | null;
}

export type AppIdentity = Pick<App, 'kind' | 'name' | 'exe' | 'identifier' | 'icon' | 'cgroup'> & {
  /** Stable key in the store ("desktop:firefox", "exe:/usr/bin/curl"). */
  key: string;
};

function fromDesktop(
  kind: AppKind,
  key: string,
  identifier: string,
  entry: DesktopEntry | null,
  fallbackName: string,
  facts: ProcessFacts,
): AppIdentity {
  return {
    key,
    kind,
    name: entry?.name ?? fallbackName,
    exe: facts.exe,
    identifier,
    icon: entry?.icon ?? null,
    cgroup: facts.cgroup,
  };
}

/** The last dotted component of a reverse-DNS id ("org.mozilla.firefox" -> "firefox"). */
const shortName = (id: string): string => id.split('.').pop() || id;

export function classifyProcess(facts: ProcessFacts, desktop: DesktopLookup): AppIdentity {
  const placement = facts.cgroup ? placementOf(facts.cgroup) : { kind: 'none' as const };
  const base = { exe: facts.exe, cgroup: facts.cgroup, icon: null };

  if (placement.kind === 'container') {
    const shortId = placement.containerId.slice(0, 12);
    return {
      ...base,
      key: `container:${placement.runtime}:${placement.containerId}`,
      kind: 'container',
      name: `${placement.runtime} ${shortId}`,
      identifier: placement.containerId,
    };
  }
  if (facts.appImage) {
    const name = basename(facts.appImage).replace(/\.appimage$/i, '');
    return {
      ...base,
      key: `appimage:${facts.appImage}`,
      kind: 'appimage',
      name,
      exe: facts.appImage,
      identifier: null,
    };
  }
  switch (placement.kind) {
    case 'flatpak':
      return fromDesktop(
        'flatpak',
        `flatpak:${placement.appId}`,
        placement.appId,
        desktop.byId(placement.appId),
        shortName(placement.appId),
        facts,
      );
    case 'snap': {
      const identifier = placement.app === placement.snap ? placement.snap : `${placement.snap}.${placement.app}`;
      return fromDesktop(
        'snap',
        `snap:${identifier}`,
        identifier,
        desktop.byId(`${placement.snap}_${placement.app}`),
        identifier,
        facts,
      );
    }
    case 'desktop-scope': {
      const found = placement.candidates.map((id) => desktop.byId(id)).find((entry) => entry !== null) ?? null;
      const id = found?.id ?? placement.candidates[0]!;
      return fromDesktop('desktop', `desktop:${id}`, id, found, shortName(id), facts);
    }
    case 'service':
      return {
        ...base,
        key: `${placement.user ? 'user-service' : 'service'}:${placement.unit}`,
        kind: 'service',
        name: placement.unit,
        identifier: placement.unit,
      };
    case 'none':
      break;
  }
  if (facts.exe) {
    const entry = desktop.byExe(facts.exe);
    if (entry) return fromDesktop('desktop', `desktop:${entry.id}`, entry.id, entry, entry.id, facts);
    return { ...base, key: `exe:${facts.exe}`, kind: 'executable', name: basename(facts.exe), identifier: null };
  }
  if (facts.cgroup === '/' && facts.comm.startsWith('kworker')) {
    return { ...base, key: 'kernel', kind: 'kernel', name: 'Kernel', identifier: null };
  }
  // Gone before we looked, with nothing telling in its cgroup: all we have is its command name.
  return { ...base, key: `unknown:${facts.comm}`, kind: 'unknown', name: facts.comm || 'unknown', identifier: null };
}
