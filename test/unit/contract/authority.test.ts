// Which changes loosen the firewall: the classifier the helper asks before it decides whether an
// administrator is needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  additionLoosening,
  appDefaultLoosening,
  changesAuthorizedUsers,
  enforcementLoosening,
  listLoosening,
  removalLoosening,
  ruleChangeLoosening,
  settingsLoosening,
  type RuleState,
} from '../../../main/contract/authority.js';
import { parseRemote, type Remote } from '../../../main/contract/rules.js';
import type { Settings } from '../../../main/contract/domain.js';

const HOUR = 3_600_000;
const T = 1_800_000_000_000;

function remote(text: string): Remote {
  const parsed = parseRemote(text);
  assert.ok(parsed.ok, text);
  return parsed.value;
}

const block: RuleState = {
  id: 7,
  action: 'block',
  appId: null,
  remote: remote('10.1.0.0/16'),
  ports: { from: 443, to: 443 },
  protocol: 'tcp',
  direction: 'out',
  expiresAt: null,
  enabled: true,
};
const allow: RuleState = {
  ...block,
  id: 8,
  action: 'allow',
  appId: 3,
  ports: { from: 8000, to: 8100 },
  expiresAt: T + HOUR,
};

test('a block rule: removing, disabling, turning it into an allow rule loosen; a note-only edit and re-enabling do not', () => {
  assert.equal(ruleChangeLoosening(block, null), 'removing block rule 7 (block 10.1.0.0/16 port 443 tcp outbound)');
  assert.match(ruleChangeLoosening(block, { ...block, enabled: false })!, /^disabling block rule 7/);
  assert.match(
    ruleChangeLoosening(block, { ...block, action: 'allow' })!,
    /^turning block rule 7 .* into an allow rule$/,
  );
  assert.equal(ruleChangeLoosening(block, { ...block }), null);
  assert.equal(ruleChangeLoosening({ ...block, enabled: false }, block), null, 'enabling a block rule tightens');
  assert.equal(ruleChangeLoosening({ ...block, enabled: false }, null), null, 'a disabled block rule stops nothing');
});

test('a block rule: narrowing any term or ending it sooner loosens; widening ports, protocol, direction or time does not', () => {
  const narrowed: Array<[string, Partial<RuleState>]> = [
    ['another remote', { remote: remote('10.2.0.0/16') }],
    ['a narrower remote', { remote: remote('10.1.2.0/24') }],
    ['other ports', { ports: { from: 80, to: 80 } }],
    ['a protocol instead of any', { protocol: 'udp' }],
    ['one direction of two', { direction: 'in' }],
    ['one app instead of every app', { appId: 4 }],
    ['an executable not yet resolved', { appId: '/usr/bin/curl' }],
  ];
  for (const [label, change] of narrowed)
    assert.match(ruleChangeLoosening(block, { ...block, ...change }) ?? 'null', /^narrowing block rule 7/, label);

  assert.match(
    ruleChangeLoosening(block, { ...block, expiresAt: T })!,
    /^making block rule 7 .* expire sooner$/,
    'an expiry added',
  );
  const expiring = { ...block, expiresAt: T + 2 * HOUR };
  assert.match(
    ruleChangeLoosening(expiring, { ...expiring, expiresAt: T + HOUR })!,
    /expire sooner/,
    'an expiry shortened',
  );
  assert.equal(ruleChangeLoosening(expiring, { ...expiring, expiresAt: T + 3 * HOUR }), null, 'an expiry lengthened');
  assert.equal(ruleChangeLoosening(expiring, { ...expiring, expiresAt: null }), null, 'made permanent');

  const widened: Array<[string, Partial<RuleState>]> = [
    ['any port', { ports: null }],
    ['a port range around it', { ports: { from: 400, to: 500 } }],
    ['any protocol', { protocol: 'any' }],
    ['both directions', { direction: 'both' }],
  ];
  for (const [label, change] of widened) assert.equal(ruleChangeLoosening(block, { ...block, ...change }), null, label);
});

test('a block rule moved to a wider remote or to every app loosens: it may now lose to a more specific or app-scoped allow', () => {
  assert.match(ruleChangeLoosening(block, { ...block, remote: remote('10.0.0.0/8') })!, /^narrowing block rule 7/);
  const perApp = { ...block, appId: 5 };
  assert.match(ruleChangeLoosening(perApp, { ...perApp, appId: null })!, /^narrowing block rule 7/);
});

test('an allow rule: adding, enabling and widening loosen; narrowing ports, disabling and removing do not', () => {
  assert.equal(
    ruleChangeLoosening(null, { ...allow, id: undefined }),
    'adding an allow rule (allow 10.1.0.0/16 port 8000-8100 tcp outbound for app 3)',
  );
  assert.equal(
    ruleChangeLoosening(null, { ...allow, enabled: false }),
    null,
    'a disabled allow rule lets nothing through',
  );
  assert.match(ruleChangeLoosening({ ...allow, enabled: false }, allow)!, /^enabling allow rule 8/);
  assert.match(
    ruleChangeLoosening({ ...block, enabled: false }, { ...block, action: 'allow' })!,
    /^turning disabled block rule 7 .* into an allow rule$/,
  );
  assert.match(ruleChangeLoosening(block, { ...block, action: 'allow' })!, /into an allow rule/);
  for (const [label, change] of [
    ['any port', { ports: null }],
    ['longer', { expiresAt: T + 2 * HOUR }],
    ['permanent', { expiresAt: null }],
    ['every app', { appId: null }],
    ['a narrower remote (more specific, so it can beat a block)', { remote: remote('10.1.2.0/24') }],
    ['any protocol', { protocol: 'any' }],
  ] as Array<[string, Partial<RuleState>]>) {
    assert.match(ruleChangeLoosening(allow, { ...allow, ...change }) ?? 'null', /^widening allow rule 8/, label);
  }
  assert.equal(ruleChangeLoosening(allow, { ...allow, ports: { from: 8000, to: 8000 } }), null);
  assert.equal(ruleChangeLoosening(allow, { ...allow, expiresAt: T }), null);
  assert.equal(ruleChangeLoosening(allow, { ...allow, enabled: false }), null);
  assert.equal(
    ruleChangeLoosening(allow, { ...allow, action: 'block' }),
    null,
    'an allow rule turned into a block tightens',
  );
  assert.equal(ruleChangeLoosening(allow, null), null);
});

test('batches ask once: additions with any allow rule, removals with any enabled block rule', () => {
  const blocks = [1, 2, 3].map((id) => ({ ...block, id }));
  assert.equal(additionLoosening(blocks), null);
  assert.match(additionLoosening([...blocks, allow])!, /^adding an allow rule/);
  assert.match(
    additionLoosening([allow, ...blocks, { ...allow, remote: remote('192.0.2.1') }])!,
    /^adding 2 allow rules \(the first: allow 10\.1\.0\.0\/16/,
  );
  assert.equal(removalLoosening([allow, { ...block, enabled: false }]), null);
  assert.equal(removalLoosening([allow, ...blocks]), 'removing 3 block rules (1, 2, 3)');
});

test('enforcement, app defaults, settings', () => {
  assert.equal(enforcementLoosening(true), null);
  assert.equal(enforcementLoosening(false), 'turning enforcement off');
  assert.equal(enforcementLoosening(false, 15), 'pausing enforcement for 15 min');

  assert.match(appDefaultLoosening('curl', null, 'allow')!, /letting curl connect/);
  assert.match(appDefaultLoosening('curl', 'block', 'allow')!, /letting curl connect/);
  assert.equal(appDefaultLoosening('curl', 'allow', 'allow'), null);
  assert.match(appDefaultLoosening('curl', 'block', null)!, /removing curl's block-by-default/);
  assert.equal(appDefaultLoosening('curl', 'allow', null), null);
  assert.equal(appDefaultLoosening('curl', null, 'block'), null);

  const current: Settings = {
    defaultAction: 'block',
    retentionDays: 30,
    authorizedUsers: [1000],
    notifyOnFirstBlock: true,
    askTimeoutSec: 30,
    askTimeoutAction: 'block',
  };
  assert.match(settingsLoosening(current, { defaultAction: 'allow' })!, /default to allow/);
  assert.match(settingsLoosening(current, { defaultAction: 'ask' })!, /default to ask/);
  assert.equal(settingsLoosening({ ...current, defaultAction: 'allow' }, { defaultAction: 'ask' }), null);
  assert.match(settingsLoosening(current, { askTimeoutAction: 'allow' })!, /unanswered questions/);
  assert.equal(settingsLoosening(current, { askTimeoutSec: 60, askTimeoutAction: 'block' }), null);
  assert.equal(settingsLoosening(current, { defaultAction: 'block' }), null);
  assert.equal(
    settingsLoosening({ ...current, defaultAction: 'allow' }, { defaultAction: 'allow' }),
    null,
    'unchanged',
  );
  assert.match(settingsLoosening(current, { retentionDays: 1 })!, /history 1 days instead of 30/);
  assert.equal(settingsLoosening(current, { retentionDays: 30, notifyOnFirstBlock: false }), null);
  assert.match(settingsLoosening(current, { defaultAction: 'allow', retentionDays: 2 })!, / and /);

  assert.equal(changesAuthorizedUsers(current, {}), false);
  assert.equal(changesAuthorizedUsers(current, { authorizedUsers: [1000, 1000] }), false);
  assert.equal(changesAuthorizedUsers(current, { authorizedUsers: [1001] }), true);
  assert.equal(changesAuthorizedUsers(current, { authorizedUsers: [] }), true);
});

test('lists: enabling an allow list (or what waits for its review), disabling or removing an enabled block list loosen', () => {
  const list = (action: 'block' | 'allow', enabled: boolean, entryCount = 3, pendingCount = 0) => ({
    name: 'feed',
    action,
    enabled,
    entryCount,
    pendingCount,
  });
  assert.equal(listLoosening(list('allow', false), 'enable'), 'enabling allow list "feed" (3 entries)');
  assert.equal(listLoosening(list('allow', true, 3, 1), 'enable'), 'enabling allow list "feed" (1 entry)');
  assert.equal(listLoosening(list('allow', true), 'enable'), null);
  assert.equal(listLoosening(list('block', false), 'enable'), null);
  assert.equal(listLoosening(list('block', true), 'disable'), 'disabling block list "feed" (3 entries)');
  assert.equal(listLoosening(list('block', true), 'remove'), 'removing block list "feed" (3 entries)');
  assert.equal(listLoosening(list('block', false), 'remove'), null);
  assert.equal(listLoosening(list('block', true, 0), 'remove'), null);
  assert.equal(listLoosening(list('allow', true), 'disable'), null);
  assert.equal(listLoosening(list('allow', true), 'remove'), null);
});
