// Ask mode on the desktop without Electron: a notification per new question (a few a minute, the
// rest summed), clicking it opens the questions; the tray shows the pending count and "Review pending…".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Prompt, Status } from '../../../main/contract/index.js';
import { PromptNotifier } from '../../../main/app/prompt-notifier.js';
import { buildTrayMenu, trayTooltip, type TrayActions } from '../../../main/app/tray-menu.js';

const prompt = (id: number, appName: string, host = '192.0.2.1'): Prompt => ({
  id,
  appId: id,
  appName,
  exe: null,
  pids: [id],
  askedAt: 0,
  deadline: 30_000,
  hosts: [{ remoteAddr: host, remoteName: null, ports: [443], protocols: ['tcp'], held: 1 }],
});

test('each new question is announced once, clicking opens the questions; bursts are summed', () => {
  const shown: Array<{ title: string; body: string; open: () => void }> = [];
  let opened = 0;
  let now = 0;
  const notifier = new PromptNotifier({
    show: (title, body, open) => shown.push({ title, body, open }),
    open: () => opened++,
    now: () => now,
    maxPerWindow: 2,
    windowMs: 60_000,
  });
  notifier.onPrompts([prompt(1, 'Firefox')]);
  notifier.onPrompts([prompt(1, 'Firefox')]);
  assert.deepEqual(
    shown.map((s) => [s.title, s.body]),
    [['Portcullis: an app is waiting', 'Firefox wants to connect to 192.0.2.1:443']],
  );
  shown[0]!.open();
  assert.equal(opened, 1);
  notifier.onPrompts([prompt(1, 'Firefox'), prompt(2, 'curl'), prompt(3, 'wget')]);
  assert.equal(shown[1]!.title, 'Portcullis: 2 apps are waiting for an answer');
  assert.equal(notifier.pending, 3);
  // The window is used up: the next one is held back and summed into the one after.
  notifier.onPrompts([prompt(4, 'ssh')]);
  assert.equal(shown.length, 2);
  now = 61_000;
  notifier.onPrompts([prompt(4, 'ssh'), prompt(5, 'git')]);
  assert.equal(shown.length, 3);
  assert.equal(shown[2]!.title, 'Portcullis: 2 apps are waiting for an answer', 'the held-back one summed in');
  notifier.onPrompts([]);
  assert.equal(notifier.pending, 0);
});

test('the tray shows the pending count and a "Review pending…" item that opens the questions', () => {
  const status = {
    version: '0',
    enforcing: true,
    pausedUntil: null,
    ruleCount: 3,
    defaultAction: 'ask',
    pendingPrompts: 2,
  } as Status;
  const calls: string[] = [];
  const actions = Object.fromEntries(
    [
      'openWindow',
      'reviewPrompts',
      'startHelper',
      'setEnforcement',
      'blockApp',
      'blockHost',
      'setNotifications',
      'quit',
    ].map((name) => [name, () => calls.push(name)]),
  ) as unknown as TrayActions;
  const menu = buildTrayMenu(
    {
      helper: { state: 'connected', status },
      recentApps: [],
      recentHosts: [],
      notificationsOn: true,
      pendingPrompts: 2,
    },
    actions,
  );
  assert.equal(trayTooltip({ state: 'connected', status }), 'Portcullis: enforcing, 3 rules, 2 waiting for an answer');
  const review = menu.find((item) => item.label === 'Review pending… (2)');
  assert.ok(review?.enabled);
  review.click!();
  assert.deepEqual(calls, ['reviewPrompts']);
  const none = buildTrayMenu(
    {
      helper: { state: 'connected', status: { ...status, pendingPrompts: 0 } },
      recentApps: [],
      recentHosts: [],
      notificationsOn: true,
      pendingPrompts: 0,
    },
    actions,
  );
  assert.equal(none.find((item) => item.label === 'Review pending…')?.enabled, false);
});
