// Electron main: thin glue between Electron and the plain classes beside it (IPC backend, tray menu
// model, first-block notifier, helper connection). Sandboxed renderer, context isolation, no node in
// the page, a CSP, no new windows, no navigation, no permissions, one instance.
import {
  app,
  BrowserWindow,
  ipcMain,
  Menu,
  nativeImage,
  Notification,
  session,
  Tray,
  type IpcMainInvokeEvent,
} from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ipcChannel, ipcInvokeNames, type HelperState, type PayloadOf } from '../contract/index.js';
import { createSystemBackend } from './system-backend.js';
import { dispatchInvoke } from './ipc-dispatch.js';
import { buildTrayMenu, trayTooltip } from './tray-menu.js';
import { trayIconBitmap, type TrayTone } from './tray-icon.js';
import { RecentActivity } from './recent-activity.js';
import { FirstBlockNotifier } from './first-block-notifier.js';
import { PromptNotifier } from './prompt-notifier.js';

const rendererIndex = join(__dirname, '..', '..', 'renderer', 'index.html');
const rendererUrl = pathToFileURL(rendererIndex).href;
const preload = join(__dirname, '..', 'preload.js');

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.enableSandbox();
  void app.whenReady().then(start);
}

function start(): void {
  let window: BrowserWindow | null = null;
  let quitting = false;
  const backend = createSystemBackend({ clientName: 'app' });
  const recent = new RecentActivity();
  const notifier = new FirstBlockNotifier({
    show: (title, body) => new Notification({ title, body, silent: true }).show(),
  });
  const reviewPrompts = () => {
    showWindow();
    window?.webContents.send(ipcChannel('reviewPrompts'), { promptId: null });
  };
  const prompts = new PromptNotifier({
    show: (title, body, open) => {
      const notification = new Notification({ title, body });
      notification.on('click', open);
      notification.show();
    },
    open: reviewPrompts,
  });

  // Nothing from the web: deny permissions, new windows and navigation for every web contents.
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  app.on('web-contents-created', (_event, contents) => {
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-navigate', (event) => event.preventDefault());
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  for (const name of ipcInvokeNames) {
    ipcMain.handle(ipcChannel(name), (event: IpcMainInvokeEvent, request: unknown) => {
      // Only our own page may call: not a frame it embeds, not a page it navigated to.
      if (event.senderFrame?.url !== rendererUrl || event.senderFrame !== event.sender.mainFrame) {
        return { ok: false, error: { kind: 'unauthorized', message: 'request from an unexpected frame' } };
      }
      return dispatchInvoke(backend.handlers, name, request);
    });
  }

  const tray = new Tray(iconFor({ state: 'not-running', message: '' }));
  const refreshTray = () => {
    const helper = backend.connection.state;
    tray.setImage(iconFor(helper));
    tray.setToolTip(trayTooltip(helper));
    tray.setContextMenu(
      Menu.buildFromTemplate(
        buildTrayMenu(
          {
            helper,
            recentApps: recent.recentApps(),
            recentHosts: recent.recentHosts(),
            notificationsOn: notifier.enabled,
            pendingPrompts: prompts.pending,
          },
          {
            openWindow: showWindow,
            reviewPrompts,
            startHelper: () => void backend.handlers.startHelper({}),
            setEnforcement: (enabled, pauseMinutes) =>
              void backend.calls
                .setEnforcement(pauseMinutes === undefined ? { enabled } : { enabled, pauseMinutes })
                .catch(report),
            blockApp: (appId) =>
              void backend.calls
                .addRule({ rule: { action: 'block', app: appId, remote: 'any', note: 'blocked from the tray' } })
                .catch(report),
            blockHost: (remote) =>
              void backend.calls
                .addRule({ rule: { action: 'block', remote, note: 'blocked from the tray' } })
                .catch(report),
            setNotifications: (on) => {
              notifier.enabled = on;
              void backend.calls.updateSettings({ patch: { notifyOnFirstBlock: on } }).catch(report);
              refreshTray();
            },
            quit: () => {
              quitting = true;
              app.quit();
            },
          },
        ),
      ),
    );
  };
  // The menu is rebuilt at most once a second however fast events arrive.
  let trayTimer: NodeJS.Timeout | null = null;
  const refreshTraySoon = () => {
    trayTimer ??= setTimeout(() => {
      trayTimer = null;
      refreshTray();
    }, 1000);
  };

  backend.subscribe((name, payload) => {
    if (name === 'events') {
      const batch = payload as { events: Parameters<RecentActivity['record']>[0] };
      recent.record(batch.events);
      notifier.onEvents(batch.events);
      refreshTraySoon();
    }
    if (name === 'prompts') {
      prompts.onPrompts((payload as PayloadOf<'prompts'>).prompts);
      refreshTray();
    }
    if (name === 'helperState' || name === 'status') refreshTray();
    if (name === 'helperState' && (payload as HelperState).state === 'connected') {
      void backend.calls.getSettings({}).then((settings) => {
        notifier.enabled = settings.notifyOnFirstBlock;
        refreshTray();
      }, report);
    }
    window?.webContents.send(ipcChannel(name), payload);
  });

  function showWindow(): void {
    if (window) {
      window.show();
      window.focus();
      return;
    }
    window = new BrowserWindow({
      width: 1280,
      height: 820,
      minWidth: 900,
      minHeight: 560,
      title: 'Portcullis',
      show: false,
      webPreferences: {
        preload,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        spellcheck: false,
      },
    });
    window.setMenuBarVisibility(false);
    window.once('ready-to-show', () => window?.show());
    // Closing the window keeps the tray (and enforcement) going; Quit is in the tray menu.
    window.on('close', (event) => {
      if (quitting) return;
      event.preventDefault();
      window?.hide();
    });
    window.on('closed', () => {
      window = null;
    });
    void window.loadFile(rendererIndex);
  }

  app.on('second-instance', showWindow);
  app.on('before-quit', () => {
    quitting = true;
    backend.dispose();
  });
  app.on('window-all-closed', () => {
    /* the tray keeps the app */
  });

  refreshTray();
  void backend.connection.connect().then(refreshTray);
  showWindow();
}

function iconFor(helper: HelperState): Electron.NativeImage {
  const tone: TrayTone = helper.state !== 'connected' ? 'off' : helper.status.enforcing ? 'enforcing' : 'paused';
  return nativeImage.createFromBitmap(trayIconBitmap(tone), { width: 22, height: 22 });
}

function report(error: unknown): void {
  console.error(`portcullis: ${error instanceof Error ? error.message : String(error)}`);
}
