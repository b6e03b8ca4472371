// What a process's cgroup v2 path says about who started it. Desktops put each launched app in a
// transient systemd unit named by the XDG convention (app[-<launcher>]-<app id>-<random>.scope or
// app[-<launcher>]-<app id>[@<random>].service); Flatpak and Snap use their own prefixes; services
// live in their unit's cgroup; container runtimes name cgroups after container ids.

export type Placement =
  | { kind: 'container'; runtime: string; containerId: string }
  | { kind: 'flatpak'; appId: string }
  | { kind: 'snap'; snap: string; app: string }
  /** `candidates`: desktop ids to try in order (with and without the launcher part). */
  | { kind: 'desktop-scope'; unit: string; candidates: string[] }
  | { kind: 'service'; unit: string; user: boolean }
  | { kind: 'none' };

const HEX64 = /^[0-9a-f]{64}$/;
const CONTAINER_SCOPES: Array<[RegExp, string]> = [
  [/^docker-([0-9a-f]{64})\.scope$/, 'docker'],
  [/^libpod-(?:conmon-)?([0-9a-f]{64})\.scope$/, 'podman'],
  [/^cri-containerd-([0-9a-f]{64})\.scope$/, 'containerd'],
  [/^crio-(?:conmon-)?([0-9a-f]{64})\.scope$/, 'cri-o'],
];
const CONTAINER_PARENTS: Record<string, string> = { docker: 'docker', 'k8s.io': 'containerd', libpod_parent: 'podman' };
/** Launcher names desktops put in front of the app id ("app-gnome-<id>-<random>.scope"). */
export const LAUNCHERS = new Set([
  'gnome',
  'kde',
  'xfce',
  'xfce4',
  'lxqt',
  'mate',
  'cinnamon',
  'budgie',
  'pantheon',
  'sway',
  'hyprland',
  'niri',
  'cosmic',
  'dbus',
  'systemd',
]);

/** systemd escapes bytes in unit names as \xNN (a "-" inside an app id is "\x2d"). */
export function unescapeUnit(text: string): string {
  return text.replace(/\\x([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Splits on "-" that systemd left unescaped (escaped ones are part of a name). */
function dashParts(text: string): string[] {
  return text.split('-');
}

function desktopCandidates(rest: string): string[] {
  const parts = dashParts(rest);
  const whole = unescapeUnit(rest);
  if (parts.length < 2) return [whole];
  const withoutLauncher = unescapeUnit(parts.slice(1).join('-'));
  // A known launcher first; otherwise the whole text is more likely the id (older desktops omit the launcher).
  return LAUNCHERS.has(parts[0]!) ? [withoutLauncher, whole] : [whole, withoutLauncher];
}

function placementOfUnit(unit: string, userManager: boolean): Placement | null {
  let match = /^app-flatpak-(.+)-[0-9a-zA-Z]+\.scope$/.exec(unit);
  if (match) return { kind: 'flatpak', appId: unescapeUnit(match[1]!) };
  match =
    /^snap\.([a-z0-9-]+)\.([^.]+?)(?:-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\.(?:scope|service)$/.exec(
      unit,
    );
  if (match) return { kind: 'snap', snap: match[1]!, app: match[2]! };
  match = /^app-(.+)-[0-9a-zA-Z]+\.scope$/.exec(unit);
  if (match) return { kind: 'desktop-scope', unit, candidates: desktopCandidates(match[1]!) };
  match = /^app-(.+?)(?:@[^.]*)?\.service$/.exec(unit);
  if (match) return { kind: 'desktop-scope', unit, candidates: desktopCandidates(match[1]!) };
  if (/^user@[0-9]+\.service$/.test(unit)) return null; // the user's manager itself: look deeper
  if (unit.endsWith('.service')) return { kind: 'service', unit: unescapeUnit(unit), user: userManager };
  return null;
}

/** Reads a cgroup v2 path ("/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope"). */
export function placementOf(cgroupPath: string): Placement {
  const parts = cgroupPath.split('/').filter(Boolean);
  // Containers first: a container's processes are shown as the container wherever it sits.
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    for (const [pattern, runtime] of CONTAINER_SCOPES) {
      const match = pattern.exec(part);
      if (match) return { kind: 'container', runtime, containerId: match[1]! };
    }
    if (HEX64.test(part)) {
      const parent = i > 0 ? parts[i - 1]! : '';
      const runtime =
        CONTAINER_PARENTS[parent] ??
        (parent.startsWith('kubepods') || parent.startsWith('pod') ? 'kubernetes' : 'container');
      return { kind: 'container', runtime, containerId: part };
    }
    const lxc = /^lxc\.payload\.(.+)$/.exec(part);
    if (lxc) return { kind: 'container', runtime: 'lxc', containerId: lxc[1]! };
  }
  // The deepest unit decides: a service's helper scopes belong to the service, an app's to the app.
  const userManagerAt = parts.findIndex((part) => /^user@[0-9]+\.service$/.test(part));
  for (let i = parts.length - 1; i >= 0; i--) {
    const placement = placementOfUnit(parts[i]!, userManagerAt !== -1 && i > userManagerAt);
    if (placement) return placement;
  }
  return { kind: 'none' };
}
