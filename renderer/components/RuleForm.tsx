// Add or edit a rule. Validation is the contract's parseRuleDraft, the very code the helper runs,
// so what this form accepts the helper accepts, and the message names the field that is wrong. What
// needs an administrator is the contract's classifier, which the helper runs too.
import { useMemo, useState } from 'react';
import { ACTIONS, DIRECTIONS, PROTOCOLS, parseRuleDraft, ruleToDraft, type RuleDraft } from '../../main/contract/rules';
import { additionLoosening, ruleChangeLoosening, ruleState } from '../../main/contract/authority';
import { useRules } from '../stores/rules-store';
import { useConnections } from '../stores/connections-store';
import { useUi, type Editing } from '../stores/ui-store';

const EXPIRIES: Array<[string, string]> = [
  ['never', 'Never'],
  ['10m', 'In 10 minutes'],
  ['1h', 'In 1 hour'],
  ['1d', 'In 1 day'],
  ['7d', 'In 7 days'],
];
const FIELDS = [
  'action',
  'app',
  'remote',
  'port',
  'protocol',
  'direction',
  'for',
  'expiresAt',
  'note',
  'enabled',
] as const;
type Field = (typeof FIELDS)[number];

/** "rule.port" → "port": which field an issue belongs to. */
function fieldOf(where: string): Field | null {
  const name = where.replace(/^rule\.?/, '').split(/[.[]/)[0];
  return (FIELDS as readonly string[]).includes(name ?? '') ? (name as Field) : null;
}

export function RuleForm({ editing }: { editing: Exclude<Editing, null> }) {
  const rules = useRules((state) => state.rules);
  const add = useRules((state) => state.add);
  const update = useRules((state) => state.update);
  const edit = useUi((state) => state.edit);
  const close = () => edit(null);
  const apps = useConnections((state) => state.apps);
  const existing = editing.mode === 'edit' ? rules.find((rule) => rule.id === editing.id) : undefined;
  const [draft, setDraft] = useState<RuleDraft>(() =>
    existing
      ? ruleToDraft(existing)
      : {
          action: 'block',
          remote: '',
          protocol: 'any',
          direction: 'both',
          enabled: true,
          ...(editing.mode === 'new' ? editing.draft : {}),
        },
  );
  // 'keep' (an existing expiry), 'never', or a duration from now.
  const [expiry, setExpiry] = useState(existing?.expiresAt ? 'keep' : 'never');
  const [saving, setSaving] = useState(false);

  const candidate = useMemo<RuleDraft>(() => {
    const next: RuleDraft = { ...draft, remote: draft.remote ?? '', port: draft.port === '' ? null : draft.port };
    if (expiry === 'never') {
      next.expiresAt = null;
      delete next.for;
    } else if (expiry !== 'keep') {
      next.for = expiry;
      delete next.expiresAt;
    }
    return next;
  }, [draft, expiry]);
  const parsed = parseRuleDraft(candidate, Date.now(), 'rule');
  // What saving would loosen, in the helper's own words: it will ask for an administrator.
  const loosening = parsed.ok
    ? existing
      ? ruleChangeLoosening(ruleState(existing), { ...parsed.value, id: existing.id, appId: parsed.value.app })
      : additionLoosening([{ ...parsed.value, appId: parsed.value.app }])
    : null;
  const issue = parsed.ok ? null : parsed.error;
  const issueField = issue ? fieldOf(issue.where) : null;
  const errorFor = (field: Field) =>
    issue && (issueField === field || (field === 'for' && issueField === 'expiresAt')) ? issue.message : null;
  const set = (patch: Partial<RuleDraft>) => setDraft((current) => ({ ...current, ...patch }));
  const appOptions = [...apps.values()].sort((a, b) => a.name.localeCompare(b.name));

  async function save() {
    if (!parsed.ok) return;
    setSaving(true);
    const saved = existing ? await update(existing.id, candidate) : await add(candidate);
    setSaving(false);
    if (saved) close();
  }

  return (
    <div className="dialog-backdrop" onClick={close}>
      <form
        className="dialog"
        role="dialog"
        aria-label={existing ? 'Edit rule' : 'New rule'}
        onClick={(event) => event.stopPropagation()}
        onSubmit={(event) => {
          event.preventDefault();
          void save();
        }}
      >
        <h2>{existing ? 'Edit rule' : 'New rule'}</h2>
        <div className="form-grid">
          <label>
            Action
            <select value={draft.action} onChange={(event) => set({ action: event.target.value })}>
              {ACTIONS.map((action) => (
                <option key={action} value={action}>
                  {action === 'block' ? 'Block' : 'Allow'}
                </option>
              ))}
            </select>
          </label>
          <label>
            Application
            <select
              value={draft.app === null || draft.app === undefined ? '' : String(draft.app)}
              onChange={(event) => set({ app: event.target.value === '' ? null : Number(event.target.value) })}
            >
              <option value="">Every application</option>
              {appOptions.map((app) => (
                <option key={app.id} value={app.id}>
                  {app.name}
                </option>
              ))}
              {typeof draft.app === 'number' && !apps.has(draft.app) && (
                <option value={draft.app}>app {draft.app}</option>
              )}
            </select>
          </label>
          <label className="wide">
            Remote
            <input
              value={draft.remote ?? ''}
              placeholder="any, 203.0.113.7, 10.0.0.0/8, example.com or *.example.com"
              aria-invalid={errorFor('remote') !== null}
              onChange={(event) => set({ remote: event.target.value })}
            />
            {errorFor('remote') && (
              <span className="field-error" role="alert">
                {errorFor('remote')}
              </span>
            )}
          </label>
          <label>
            Port
            <input
              value={draft.port === null || draft.port === undefined ? '' : String(draft.port)}
              placeholder="any, 443 or 8000-8100"
              aria-invalid={errorFor('port') !== null}
              onChange={(event) => set({ port: event.target.value })}
            />
            {errorFor('port') && (
              <span className="field-error" role="alert">
                {errorFor('port')}
              </span>
            )}
          </label>
          <label>
            Protocol
            <select value={draft.protocol ?? 'any'} onChange={(event) => set({ protocol: event.target.value })}>
              {PROTOCOLS.map((protocol) => (
                <option key={protocol} value={protocol}>
                  {protocol === 'any' ? 'Any' : protocol.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
          <label>
            Direction
            <select value={draft.direction ?? 'both'} onChange={(event) => set({ direction: event.target.value })}>
              {DIRECTIONS.map((direction) => (
                <option key={direction} value={direction}>
                  {{ out: 'Outgoing', in: 'Incoming', both: 'Both ways' }[direction]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Expires
            <select value={expiry} onChange={(event) => setExpiry(event.target.value)}>
              {existing?.expiresAt ? (
                <option value="keep">Keep ({new Date(existing.expiresAt).toLocaleString()})</option>
              ) : null}
              {EXPIRIES.map(([value, label]) => (
                <option key={value} value={value}>
                  {label}
                </option>
              ))}
            </select>
            {errorFor('for') && (
              <span className="field-error" role="alert">
                {errorFor('for')}
              </span>
            )}
          </label>
          <label className="wide">
            Note
            <input
              value={draft.note ?? ''}
              placeholder="Why this rule exists"
              onChange={(event) => set({ note: event.target.value })}
            />
            {errorFor('note') && (
              <span className="field-error" role="alert">
                {errorFor('note')}
              </span>
            )}
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={draft.enabled ?? true}
              onChange={(event) => set({ enabled: event.target.checked })}
            />
            Enabled
          </label>
        </div>
        {issue && issueField === null && (
          <p className="field-error" role="alert">
            {issue.where}: {issue.message}
          </p>
        )}
        {loosening && (
          <p className="admin-note" role="note">
            Needs an administrator: {loosening}. You will be asked to authenticate.
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button primary" disabled={!parsed.ok || saving}>
            {existing ? 'Save' : 'Add rule'}
          </button>
        </div>
      </form>
    </div>
  );
}
