// Which changes loosen the firewall. Authorised users may read, block and tighten; a change that
// could let through traffic that was stopped before needs an administrator (the helper asks polkit
// for the calling process). Malware runs as the person, so anything it could use to open the door
// must pass a person who knows an administrator's password.
//
// Each function answers with what the change does in plain words ("removing block rule 3 (block
// 10.0.0.0/8)") when it loosens, or null when it is free. The helper decides with these; the CLI
// and the UI use them to say beforehand that an administrator will be asked.
//
// Precedence makes "wider" not always "tighter": an app's own rules beat global ones, and within a
// scope the most specific remote wins. A block moved from one app to every app, or widened from
// 10.0.0.1 to 10.0.0.0/8, can lose to an allow rule it used to beat. So a block rule stays free to
// change only while its app and remote stay the same; ports, protocol, direction and time may only
// grow. An allow rule is free to change only while its app and remote stay the same and the rest
// only shrinks (a narrower remote would be more specific, and could beat a block).
import type { Action, AppSelector, Direction, ParsedDraft, PortRange, Protocol, Remote, Rule } from './rules.js';
import { describeRule, formatRemote } from './rules.js';
import type { Settings } from './domain.js';

/** What the classifier needs of a rule: its terms, its app (or an app not yet resolved), its id if stored. */
export interface RuleState {
  id?: number;
  action: Action;
  appId: AppSelector;
  remote: Remote;
  ports: PortRange | null;
  protocol: Protocol;
  direction: Direction;
  expiresAt: number | null;
  enabled: boolean;
}

const activeBlock = (rule: RuleState): boolean => rule.enabled && rule.action === 'block';
const activeAllow = (rule: RuleState): boolean => rule.enabled && rule.action === 'allow';

/** Same app and same remote: the rule sits at the same place in the precedence order. */
function samePlace(a: RuleState, b: RuleState): boolean {
  return a.appId === b.appId && formatRemote(a.remote) === formatRemote(b.remote);
}

/** Whether `outer` matches every port, protocol, direction and moment that `inner` matches. */
function covers(outer: RuleState, inner: RuleState): boolean {
  const ports =
    outer.ports === null ||
    (inner.ports !== null && outer.ports.from <= inner.ports.from && inner.ports.to <= outer.ports.to);
  const protocol = outer.protocol === 'any' || outer.protocol === inner.protocol;
  const direction = outer.direction === 'both' || outer.direction === inner.direction;
  const time = outer.expiresAt === null || (inner.expiresAt !== null && inner.expiresAt <= outer.expiresAt);
  return ports && protocol && direction && time;
}

const named = (rule: RuleState) => `${rule.id !== undefined ? `rule ${rule.id} ` : ''}(${describeRule(rule)})`;

/**
 * Whether replacing `before` by `after` loosens: null before is adding, null after is removing.
 * A block rule that stops matching something it matched, or an allow rule that starts to.
 */
export function ruleChangeLoosening(before: RuleState | null, after: RuleState | null): string | null {
  if (before !== null && activeBlock(before)) {
    if (after === null) return `removing block ${named(before)}`;
    if (!after.enabled) return `disabling block ${named(before)}`;
    if (after.action !== 'block') return `turning block ${named(before)} into an allow rule`;
    if (!samePlace(after, before) || !covers(after, before)) {
      const onlyTime = samePlace(after, before) && covers({ ...after, expiresAt: null }, before);
      return onlyTime
        ? `making block ${named(before)} expire sooner`
        : `narrowing block ${named(before)} to ${describeRule(after)}`;
    }
  }
  if (after !== null && activeAllow(after)) {
    if (before === null) return `adding an allow rule (${describeRule(after)})`;
    if (!activeAllow(before))
      return before.action === 'allow'
        ? `enabling allow ${named(before)}`
        : `turning disabled block ${named(before)} into an allow rule`;
    if (!samePlace(before, after) || !covers(before, after))
      return `widening allow ${named(before)} to ${describeRule(after)}`;
  }
  return null;
}

/** Adding rules (one request, one question): loosening when any of them is an enabled allow rule. */
export function additionLoosening(drafts: readonly RuleState[]): string | null {
  const allows = drafts.filter(activeAllow);
  if (allows.length === 0) return null;
  if (allows.length === 1) return ruleChangeLoosening(null, allows[0]!);
  return `adding ${allows.length} allow rules (the first: ${describeRule(allows[0]!)})`;
}

/** Removing stored rules: loosening when any of them is an enabled block rule. */
export function removalLoosening(rules: readonly RuleState[]): string | null {
  const blocks = rules.filter(activeBlock);
  if (blocks.length === 0) return null;
  if (blocks.length === 1) return ruleChangeLoosening(blocks[0]!, null);
  const ids = blocks.map((rule) => rule.id).filter((id) => id !== undefined);
  return `removing ${blocks.length} block rules (${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', …' : ''})`;
}

/** Turning enforcement off or pausing it lets everything through. */
export function enforcementLoosening(enabled: boolean, pauseMinutes?: number): string | null {
  if (enabled) return null;
  return pauseMinutes !== undefined ? `pausing enforcement for ${pauseMinutes} min` : 'turning enforcement off';
}

/**
 * An app's default verdict: allowing by default loosens, and so does dropping a block default (the
 * global default then decides, which may allow).
 */
export function appDefaultLoosening(appName: string, current: Action | null, next: Action | null): string | null {
  if (next === 'allow' && current !== 'allow') return `letting ${appName} connect wherever no rule decides`;
  if (next === null && current === 'block') return `removing ${appName}'s block-by-default`;
  return null;
}

/**
 * Settings: an allow default loosens; so does changing how long history is kept (the record of
 * what talked where is what a person checks afterwards). The first-block notification is the
 * person's own preference and stops nothing. Fields sent with their current value change nothing.
 * authorizedUsers is not here: only root changes it (see changesAuthorizedUsers).
 */
export function settingsLoosening(current: Settings, patch: Partial<Settings>): string | null {
  const changes: string[] = [];
  if (patch.defaultAction === 'allow' && current.defaultAction !== 'allow')
    changes.push('setting the default to allow (monitor mode)');
  // Ask mode lets through what a person allows; from allow-list mode that is more than before.
  if (patch.defaultAction === 'ask' && current.defaultAction === 'block')
    changes.push('setting the default to ask (ask mode) instead of block');
  if (patch.askTimeoutAction === 'allow' && current.askTimeoutAction !== 'allow')
    changes.push("letting unanswered questions' connections through");
  if (patch.retentionDays !== undefined && patch.retentionDays !== current.retentionDays)
    changes.push(`keeping history ${patch.retentionDays} days instead of ${current.retentionDays}`);
  return changes.length > 0 ? changes.join(' and ') : null;
}

/** Whether a settings patch changes who may use the helper (compared as sets). */
export function changesAuthorizedUsers(current: Settings, patch: Partial<Settings>): boolean {
  if (patch.authorizedUsers === undefined) return false;
  const now = new Set(current.authorizedUsers);
  const next = new Set(patch.authorizedUsers);
  return now.size !== next.size || [...next].some((uid) => !now.has(uid));
}

/** A stored rule as the classifier sees it. */
export function ruleState(rule: Rule): RuleState {
  const { id, action, appId, remote, ports, protocol, direction, expiresAt, enabled } = rule;
  return { id, action, appId, remote, ports, protocol, direction, expiresAt, enabled };
}

/** A draft as the classifier sees it (its app as written: a path is not resolved yet). */
export function draftState(draft: ParsedDraft, now: number): RuleState {
  const { expiry, app, note: _note, ...terms } = draft;
  return { ...terms, appId: app, expiresAt: 'in' in expiry ? now + expiry.in : expiry.at };
}

/** What the classifier needs of a list: its entries share one action and are enforced together. */
export interface ListState {
  name: string;
  action: Action;
  enabled: boolean;
  /** Entries enforced (while enabled). */
  entryCount: number;
  /** Entries of an allow list waiting for review. */
  pendingCount: number;
}

/**
 * Enabling, disabling or removing a list whole: enabling an allow list (or accepting what waits
 * for its review) opens, disabling or removing an enabled block list stops blocking.
 */
export function listLoosening(list: ListState, change: 'enable' | 'disable' | 'remove'): string | null {
  const entries = (n: number) => `${n} entr${n === 1 ? 'y' : 'ies'}`;
  if (change === 'enable')
    return list.action === 'allow' && (!list.enabled || list.pendingCount > 0)
      ? `enabling allow list "${list.name}" (${entries(list.enabled ? list.pendingCount : list.entryCount + list.pendingCount)})`
      : null;
  if (list.action !== 'block' || !list.enabled || list.entryCount === 0) return null;
  return `${change === 'disable' ? 'disabling' : 'removing'} block list "${list.name}" (${entries(list.entryCount)})`;
}
