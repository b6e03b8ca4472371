// The blocklist editor: every rule, enable/disable in place, edit, remove, import and export.
import { useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { formatPorts, formatRemote, type Rule } from '../../main/contract/rules';
import type { App } from '../../main/contract/domain';
import { useRules } from '../stores/rules-store';
import { useConnections } from '../stores/connections-store';
import { useUi } from '../stores/ui-store';
import { formatCount } from '../model/format';
import { RuleForm } from './RuleForm';
import { ImportDialog } from './ImportDialog';
import { OpenSnitchImportDialog } from './OpenSnitchImportDialog';

const ROW_HEIGHT = 40;

function appLabel(appId: number | null, apps: Map<number, App>): string {
  if (appId === null) return 'Every app';
  return apps.get(appId)?.name ?? `app ${appId}`;
}

function expiryLabel(rule: Rule): string {
  if (rule.expiresAt === null) return 'never';
  return new Date(rule.expiresAt).toLocaleString([], {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });
}

export function RulesView() {
  const rules = useRules((state) => state.rules);
  const loaded = useRules((state) => state.loaded);
  const remove = useRules((state) => state.remove);
  const setEnabled = useRules((state) => state.setEnabled);
  const exportList = useRules((state) => state.exportList);
  const apps = useConnections((state) => state.apps);
  const editing = useUi((state) => state.editing);
  const edit = useUi((state) => state.edit);
  const importing = useUi((state) => state.importing);
  const openImport = useUi((state) => state.openImport);
  const [query, setQuery] = useState('');
  const scrollRef = useRef<HTMLDivElement>(null);

  const shown = useMemo(() => {
    const needle = query.trim().toLowerCase();
    const sorted = [...rules].sort((a, b) => b.updatedAt - a.updatedAt || b.id - a.id);
    if (!needle) return sorted;
    return sorted.filter(
      (rule) =>
        formatRemote(rule.remote).toLowerCase().includes(needle) ||
        rule.note.toLowerCase().includes(needle) ||
        appLabel(rule.appId, apps).toLowerCase().includes(needle),
    );
  }, [rules, query, apps]);

  const virtualizer = useVirtualizer({
    count: shown.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    getItemKey: (index) => shown[index]!.id,
    overscan: 10,
    initialRect: { width: 1000, height: 700 },
  });

  async function download() {
    const text = await exportList('json');
    if (text === null) return;
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const link = document.createElement('a');
    link.href = url;
    link.download = 'portcullis-rules.json';
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  return (
    <section className="view rules-view" aria-label="Rules">
      <div className="toolbar">
        <button className="button primary" onClick={() => edit({ mode: 'new', draft: { action: 'block' } })}>
          Add rule
        </button>
        <button className="button" onClick={() => openImport('list')}>
          Import list…
        </button>
        <button className="button" onClick={() => openImport('opensnitch')}>
          Import from OpenSnitch…
        </button>
        <button className="button" onClick={() => void download()}>
          Export…
        </button>
        <input
          className="search"
          type="search"
          placeholder="Search rules"
          aria-label="Search rules"
          value={query}
          onChange={(event) => setQuery(event.target.value)}
        />
        <span className="grow" />
        <span className="muted">
          {formatCount(shown.length)} of {formatCount(rules.length)} rules
        </span>
      </div>
      {loaded && rules.length === 0 ? (
        <div className="empty">
          <p>No rules yet.</p>
          <p className="muted">Block a host from the Connections list, add a rule, or import a block list.</p>
        </div>
      ) : (
        <div className="list-scroll" ref={scrollRef} role="table" aria-label="Rules list" aria-rowcount={shown.length}>
          <div className="list-header rule-grid" role="row">
            <span role="columnheader">On</span>
            <span role="columnheader">Action</span>
            <span role="columnheader">Remote</span>
            <span role="columnheader">Application</span>
            <span role="columnheader">Port</span>
            <span role="columnheader">Proto</span>
            <span role="columnheader">Dir</span>
            <span role="columnheader">Expires</span>
            <span role="columnheader">Note</span>
            <span role="columnheader">Hits</span>
            <span role="columnheader" />
          </div>
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) => {
              const rule = shown[item.index]!;
              const remote = formatRemote(rule.remote);
              // Undoing an enabled block lets traffic through: the helper will ask for an administrator.
              // A policy file's rule is changed in that file, by root: read-only here, saying where it lives.
              const managedTitle = rule.managedBy ? `Managed by the policy file ${rule.managedBy}` : undefined;
              const adminTitle =
                managedTitle ?? (rule.enabled && rule.action === 'block' ? 'Needs an administrator' : undefined);
              return (
                <div
                  key={item.key}
                  className={`virtual-row row rule-grid${rule.enabled ? '' : ' disabled'}`}
                  role="row"
                  data-rule-remote={remote}
                  style={{ transform: `translateY(${item.start}px)`, height: item.size }}
                >
                  <span role="cell">
                    <input
                      type="checkbox"
                      className="switch"
                      checked={rule.enabled}
                      disabled={Boolean(rule.managedBy)}
                      title={adminTitle}
                      aria-label={`${rule.enabled ? 'Disable' : 'Enable'} rule ${remote}`}
                      onChange={(event) => void setEnabled(rule.id, event.target.checked)}
                    />
                  </span>
                  <span role="cell">
                    <span className={`pill ${rule.action === 'block' ? 'pill-block' : 'pill-allow'}`}>
                      {rule.action}
                    </span>
                  </span>
                  <span role="cell" className="mono ellipsis" title={remote}>
                    {remote === 'any' ? 'everything' : remote}
                  </span>
                  <span role="cell" className="ellipsis">
                    {appLabel(rule.appId, apps)}
                  </span>
                  <span role="cell">{formatPorts(rule.ports)}</span>
                  <span role="cell">{rule.protocol}</span>
                  <span role="cell">{rule.direction}</span>
                  <span role="cell" className="muted">
                    {expiryLabel(rule)}
                  </span>
                  <span role="cell" className="muted ellipsis" title={rule.note}>
                    {rule.note}
                  </span>
                  <span role="cell">{formatCount(rule.hits)}</span>
                  <span role="cell" className="actions">
                    <button
                      className="button small"
                      disabled={Boolean(rule.managedBy)}
                      title={managedTitle}
                      onClick={() => edit({ mode: 'edit', id: rule.id })}
                      aria-label={`Edit rule ${remote}`}
                    >
                      Edit
                    </button>
                    <button
                      className="button small danger-outline"
                      disabled={Boolean(rule.managedBy)}
                      title={adminTitle}
                      onClick={() => void remove([rule.id])}
                      aria-label={`Remove rule ${remote}`}
                    >
                      Remove
                    </button>
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      )}
      {editing && <RuleForm key={editing.mode === 'edit' ? editing.id : 'new'} editing={editing} />}
      {importing === 'list' && <ImportDialog />}
      {importing === 'opensnitch' && <OpenSnitchImportDialog />}
    </section>
  );
}
