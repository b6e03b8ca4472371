// Turns what is known about a process into the application a person recognises, and the key that
// keeps its id stable in the store: desktop apps by desktop id, Flatpak and Snap by their ids,
// services by unit, containers by id, everything else by executable path (never by inode, so an
// update that replaces the file keeps the identity).
//
// A placement is a claim (anyone can name a unit as they like) and counts only with evidence the
// process cannot forge: a Flatpak by the app id in its own /.flatpak-info, a Snap by its AppArmor
// confinement, a desktop scope where the unit's maker (its cgroup's owner: the user or root) and the
// executable (the desktop entry's, or the script it runs) agree with it, a service or container by
// root having made its cgroup (a user service: the user's manager, running a file only root can
// change). What cannot be verified is the executable (or the desktop app whose own program it is).
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
  /** The AppImage file this process runs from (an AppImage runtime: itself, or the one that mounted its image), or null. */
  appImage: string | null;
  /** uid owning the process's cgroup directory: who made the unit (a user's manager, or root); null when unknown. */
  cgroupOwner: number | null;
  /** The app id in the process's own /.flatpak-info, or null. */
  flatpakId: string | null;
  /** The process's AppArmor label ("snap.spotify.spotify"), or null when unconfined or unknown. */
  appArmorLabel: string | null;
  /** The script an interpreter runs (its first argument, when an absolute path), or null. */
  script: string | null;
  /** The executable is a file only root can change. */
  exeRootOwned: boolean;
}

/** Facts about a process gone before it was looked at: the kernel's account of it, no evidence. */
export function factsOfGone(
  pid: number,
  exe: string | null,
  cgroup: string | null,
  comm: string,
  uid: number,
): ProcessFacts {
  return {
    pid,
    exe,
    cgroup,
    comm,
    uid,
    appImage: null,
    cgroupOwner: null,
    flatpakId: null,
    appArmorLabel: null,
    script: null,
    exeRootOwned: false,
  };
}

export type AppIdentity = Pick<App, 'kind' | 'name' | 'exe' | 'identifier' | 'icon' | 'cgroup'> & {
  /** Stable key in the store ("desktop:firefox", "exe:/usr/bin/curl"). */
  key: string;
  /** The process's cgroup is this app's own unit, verified: the kernel may bind it as a whole. */
  unit: boolean;
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
    unit: true,
  };
}

/** Whether the unit a process is in was made by the process's own user or by root. */
const madeByOwnerOrRoot = (facts: ProcessFacts): boolean =>
  facts.cgroupOwner !== null && (facts.cgroupOwner === facts.uid || facts.cgroupOwner === 0);

/**
 * Whether a process runs a desktop entry's program: its own executable; the script its interpreter
 * is given; or the entry's executable as a script (the process is its interpreter).
 */
function runsEntry(facts: ProcessFacts, entry: DesktopEntry): boolean {
  if (entry.exe === null) return false;
  if (entry.launcher) return entry.script !== null && entry.exe === facts.exe && entry.script === facts.script;
  return entry.exe === facts.exe || entry.exe === facts.script;
}

/** The last dotted component of a reverse-DNS id ("org.mozilla.firefox" -> "firefox"). */
const shortName = (id: string): string => id.split('.').pop() || id;

export function classifyProcess(facts: ProcessFacts, desktop: DesktopLookup): AppIdentity {
  const placement = facts.cgroup ? placementOf(facts.cgroup) : { kind: 'none' as const };
  const base = { exe: facts.exe, cgroup: facts.cgroup, icon: null, unit: false };

  if (placement.kind === 'container' && facts.cgroupOwner === 0) {
    const shortId = placement.containerId.slice(0, 12);
    return {
      ...base,
      key: `container:${placement.runtime}:${placement.containerId}`,
      kind: 'container',
      name: `${placement.runtime} ${shortId}`,
      identifier: placement.containerId,
      unit: true,
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
      if (facts.flatpakId !== placement.appId) break;
      return fromDesktop(
        'flatpak',
        `flatpak:${placement.appId}`,
        placement.appId,
        desktop.byId(placement.appId),
        shortName(placement.appId),
        facts,
      );
    case 'snap': {
      if (facts.appArmorLabel !== `snap.${placement.snap}.${placement.app}`) break;
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
      if (!found || !madeByOwnerOrRoot(facts) || !runsEntry(facts, found)) break;
      return fromDesktop('desktop', `desktop:${found.id}`, found.id, found, shortName(found.id), facts);
    }
    case 'service': {
      const verified = placement.user ? facts.cgroupOwner === facts.uid && facts.exeRootOwned : facts.cgroupOwner === 0;
      if (!verified) break;
      return {
        ...base,
        key: `${placement.user ? 'user-service' : 'service'}:${placement.unit}`,
        kind: 'service',
        name: placement.unit,
        identifier: placement.unit,
        unit: true,
      };
    }
    case 'container':
    case 'none':
      break;
  }
  if (facts.exe) {
    // A desktop entry's own program names its app wherever it runs, but the cgroup it runs in is not
    // the app's: other programs may share it (a terminal's scope, a login session).
    const entry = desktop.byExe(facts.exe);
    if (entry)
      return { ...fromDesktop('desktop', `desktop:${entry.id}`, entry.id, entry, entry.id, facts), unit: false };
    return { ...base, key: `exe:${facts.exe}`, kind: 'executable', name: basename(facts.exe), identifier: null };
  }
  if (facts.cgroup === '/' && facts.comm.startsWith('kworker')) {
    return { ...base, key: 'kernel', kind: 'kernel', name: 'Kernel', identifier: null };
  }
  // Gone before we looked, with nothing telling in its cgroup: all we have is its command name.
  return { ...base, key: `unknown:${facts.comm}`, kind: 'unknown', name: facts.comm || 'unknown', identifier: null };
}
