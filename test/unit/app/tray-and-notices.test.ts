import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildTrayMenu, type MenuItemModel, type TrayActions } from '../../../main/app/tray-menu.js';
import { RecentActivity } from '../../../main/app/recent-activity.js';
import { FirstBlockNotifier } from '../../../main/app/first-block-notifier.js';
import type { ConnectionEvent, Status } from '../../../main/contract/index.js';
import { connectionEvent } from '../../support/connection-event.js';

function event(overrides: Partial<ConnectionEvent>): ConnectionEvent {
  return connectionEvent(1, '203.0.113.5', { time: 1, pid: 10, uid: 1000, ...overrides });
}

const status = { version: '0.1.0', enforcing: true, pausedUntil: null, ruleCount: 3 } as Status;

function recordingActions(): { actions: TrayActions; calls: string[] } {
  const calls: string[] = [];
  const actions: TrayActions = {
    openWindow: () => calls.push('open'),
    reviewPrompts: () => calls.push('review'),
    startHelper: () => calls.push('start'),
    setEnforcement: (enabled, minutes) => calls.push(`enforce ${enabled} ${minutes ?? ''}`.trim()),
    blockApp: (appId) => calls.push(`block app ${appId}`),
    blockHost: (remote) => calls.push(`block host ${remote}`),
    setNotifications: (on) => calls.push(`notify ${on}`),
    quit: () => calls.push('quit'),
  };
  return { actions, calls };
}

const find = (items: MenuItemModel[], label: string): MenuItemModel => {
  const item = items.find((candidate) => candidate.label === label);
  assert.ok(
    item,
    `menu has "${label}" (has: ${items
      .map((i) => i.label)
      .filter(Boolean)
      .join(', ')})`,
  );
  return item;
};

test('the tray menu carries every action: enforcement, timed pauses, block recent, open, quit', () => {
  const recent = new RecentActivity(2);
  recent.record([
    event({ appId: 1, comm: 'curl', remoteAddr: '203.0.113.5' }),
    event({ appId: 2, comm: 'firefox', remoteName: 'example.com', verdict: 'block' }),
    event({ appId: 3, comm: 'wget', remoteAddr: '198.51.100.1' }),
  ]);
  const { actions, calls } = recordingActions();
  const menu = buildTrayMenu(
    {
      helper: { state: 'connected', status },
      recentApps: recent.recentApps(),
      recentHosts: recent.recentHosts(),
      notificationsOn: true,
    },
    actions,
  );
  assert.equal(menu[0]!.label, 'Portcullis: enforcing, 3 rules');
  find(menu, 'Enforcing').click!();
  for (const item of find(menu, 'Pause').submenu!) item.click!();
  const recentMenu = find(menu, 'Block recent…').submenu!;
  // Only the two newest of each kind, newest first.
  assert.deepEqual(
    recentMenu.filter((item) => item.click).map((item) => item.label),
    [
      'Block wget',
      'Block firefox (blocked just now)',
      'Block 198.51.100.1 (seen from wget)',
      'Block example.com (seen from firefox)',
    ],
  );
  find(recentMenu, 'Block firefox (blocked just now)').click!();
  find(recentMenu, 'Block example.com (seen from firefox)').click!();
  find(menu, 'Notify on first block').click!();
  find(menu, 'Open Portcullis').click!();
  find(menu, 'Quit Portcullis').click!();
  assert.deepEqual(calls, [
    'enforce false',
    'enforce false 5',
    'enforce false 15',
    'enforce false 60',
    'block app 2',
    'block host example.com',
    'notify false',
    'open',
    'quit',
  ]);
});

test('without a helper the tray offers to start it, and says when paused', () => {
  const { actions, calls } = recordingActions();
  const menu = buildTrayMenu(
    { helper: { state: 'cancelled', message: 'dismissed' }, recentApps: [], recentHosts: [], notificationsOn: false },
    actions,
  );
  find(menu, 'Start helper…').click!();
  assert.deepEqual(calls, ['start']);
  assert.equal(
    menu.some((item) => item.label === 'Block recent…'),
    false,
  );
  const paused = buildTrayMenu(
    {
      helper: { state: 'connected', status: { ...status, enforcing: false, pausedUntil: 1_700_000_000_000 } },
      recentApps: [],
      recentHosts: [],
      notificationsOn: true,
      formatTime: () => '14:05',
    },
    actions,
  );
  assert.equal(paused[0]!.label, 'Portcullis: paused until 14:05');
  assert.equal(find(paused, 'Pause').enabled, false);
});

test('first-block notices: once per app or host, rate-limited, summed, and switchable', () => {
  let now = 0;
  const shown: string[] = [];
  const notifier = new FirstBlockNotifier({
    show: (title, body) => shown.push(`${title} | ${body}`),
    now: () => now,
    maxPerWindow: 2,
    windowMs: 60_000,
  });
  notifier.onEvents([event({ verdict: 'allow' })]);
  notifier.onEvents([event({ verdict: 'block', appId: 1, comm: 'curl', remoteAddr: '203.0.113.5' })]);
  notifier.onEvents([event({ verdict: 'block', appId: 1, comm: 'curl', remoteAddr: '203.0.113.5' })]); // seen: no notice
  notifier.onEvents([event({ verdict: 'block', appId: 1, comm: 'curl', remoteAddr: '203.0.113.6' })]); // new host
  notifier.onEvents([event({ verdict: 'block', appId: 2, comm: 'wget', remoteAddr: '203.0.113.7' })]); // over the limit
  assert.equal(shown.length, 2);
  assert.match(shown[0]!, /^Portcullis blocked curl \| curl → 203\.0\.113\.5 port 443 \(tcp\)$/);
  assert.match(shown[1]!, /^Portcullis blocked 203\.0\.113\.6/);
  now = 61_000;
  notifier.onEvents([event({ verdict: 'block', appId: 3, comm: 'ssh', remoteAddr: '203.0.113.8', remotePort: 22 })]);
  assert.match(shown[2]!, /Portcullis blocked ssh .*\(and 1 more blocked since the last notice\)/);
  notifier.enabled = false;
  now = 200_000;
  notifier.onEvents([event({ verdict: 'block', appId: 4, comm: 'nc', remoteAddr: '203.0.113.9' })]);
  assert.equal(shown.length, 3);
});
