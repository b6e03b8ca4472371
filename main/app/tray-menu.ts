// The tray's context menu as plain data. Every action is in the menu, since many Linux desktops never
// deliver a click on a StatusNotifierItem. main.ts hands this to Electron's Menu.buildFromTemplate.
import type { HelperState } from '../contract/index.js';
import type { RecentApp, RecentHost } from './recent-activity.js';

export interface MenuItemModel {
  label?: string;
  type?: 'normal' | 'separator' | 'checkbox';
  enabled?: boolean;
  checked?: boolean;
  submenu?: MenuItemModel[];
  click?: () => void;
}

export interface TrayInput {
  helper: HelperState;
  recentApps: RecentApp[];
  recentHosts: RecentHost[];
  notificationsOn: boolean;
  /** Ask mode's questions waiting for an answer. */
  pendingPrompts?: number;
  /** For "paused until 14:05". */
  formatTime?: (time: number) => string;
}

export interface TrayActions {
  openWindow(): void;
  /** Opens the window at the questions ask mode is waiting on. */
  reviewPrompts(): void;
  startHelper(): void;
  setEnforcement(enabled: boolean, pauseMinutes?: number): void;
  blockApp(appId: number): void;
  blockHost(remote: string): void;
  setNotifications(on: boolean): void;
  quit(): void;
}

const separator: MenuItemModel = { type: 'separator' };

export function trayTooltip(helper: HelperState, formatTime: (time: number) => string = defaultTime): string {
  if (helper.state !== 'connected')
    return `Portcullis: ${helper.state === 'starting' ? 'starting the helper' : 'helper not running'}`;
  const { status } = helper;
  const waiting = status.pendingPrompts ? `, ${status.pendingPrompts} waiting for an answer` : '';
  if (status.enforcing) return `Portcullis: enforcing, ${status.ruleCount} rules${waiting}`;
  return status.pausedUntil ? `Portcullis: paused until ${formatTime(status.pausedUntil)}` : 'Portcullis: paused';
}

export function buildTrayMenu(input: TrayInput, actions: TrayActions): MenuItemModel[] {
  const formatTime = input.formatTime ?? defaultTime;
  const items: MenuItemModel[] = [{ label: trayTooltip(input.helper, formatTime), enabled: false }, separator];
  if (input.helper.state === 'connected') {
    const { status } = input.helper;
    const pending = input.pendingPrompts ?? 0;
    if (pending > 0 || status.defaultAction === 'ask')
      items.push({
        label: pending > 0 ? `Review pending… (${pending})` : 'Review pending…',
        enabled: pending > 0,
        click: actions.reviewPrompts,
      });
    items.push(
      {
        label: 'Enforcing',
        type: 'checkbox',
        checked: status.enforcing,
        click: () => actions.setEnforcement(!status.enforcing),
      },
      {
        label: 'Pause',
        enabled: status.enforcing,
        submenu: [5, 15, 60].map((minutes) => ({
          label: `For ${minutes} minutes`,
          click: () => actions.setEnforcement(false, minutes),
        })),
      },
      { label: 'Block recent…', submenu: recentSubmenu(input, actions) },
    );
  } else {
    items.push({
      label: input.helper.state === 'starting' ? 'Starting helper…' : 'Start helper…',
      enabled: input.helper.state !== 'starting',
      click: actions.startHelper,
    });
  }
  items.push(
    separator,
    {
      label: 'Notify on first block',
      type: 'checkbox',
      checked: input.notificationsOn,
      click: () => actions.setNotifications(!input.notificationsOn),
    },
    { label: 'Open Portcullis', click: actions.openWindow },
    separator,
    { label: 'Quit Portcullis', click: actions.quit },
  );
  return items;
}

function recentSubmenu(input: TrayInput, actions: TrayActions): MenuItemModel[] {
  if (input.recentApps.length === 0 && input.recentHosts.length === 0)
    return [{ label: 'Nothing seen yet', enabled: false }];
  return [
    { label: 'Applications', enabled: false },
    ...input.recentApps.map((app) => ({
      label: `Block ${app.name}${app.blocked ? ' (blocked just now)' : ''}`,
      click: () => actions.blockApp(app.appId),
    })),
    separator,
    { label: 'Hosts, for every app', enabled: false },
    ...input.recentHosts.map((host) => ({
      label: `Block ${host.remote} (seen from ${host.appName})`,
      click: () => actions.blockHost(host.remote),
    })),
  ];
}

function defaultTime(time: number): string {
  return new Date(time).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}
