// Import a list (a hosts file, one address/CIDR/domain per line, AdBlock filters, or Portcullis's
// JSON) with progress and a summary: added, already present, and what was skipped and why. The
// helper parses and stores it, as it does for the command line.
import { useState } from 'react';
import { useRules } from '../stores/rules-store';
import { useUi } from '../stores/ui-store';
import { formatCount } from '../model/format';

export function ImportDialog() {
  const importing = useRules((state) => state.importing);
  const importList = useRules((state) => state.importList);
  const clearImport = useRules((state) => state.clearImport);
  const setImportOpen = useUi((state) => state.setImportOpen);
  const [text, setText] = useState('');
  const [source, setSource] = useState('pasted list');
  const running = importing !== null && importing.phase !== 'done';

  function close() {
    if (running) return;
    clearImport();
    setImportOpen(false);
  }

  async function readFile(file: File) {
    setSource(file.name);
    setText(await file.text());
  }

  const finished = importing?.phase === 'done';
  const percent =
    importing && importing.total > 0 && !finished ? Math.round((importing.sent / importing.total) * 100) : 100;
  const summary = importing?.summary ?? null;

  return (
    <div className="dialog-backdrop" onClick={close}>
      <div
        className="dialog wide-dialog"
        role="dialog"
        aria-label="Import a list"
        onClick={(event) => event.stopPropagation()}
      >
        <h2>Import a list</h2>
        {!importing && (
          <>
            <p className="muted">
              A hosts file (<code>0.0.0.0 ads.example.com</code>), one address, CIDR or domain per line, AdBlock filters
              (<code>||ads.example.com^</code>) or a Portcullis JSON export. Lines starting with # are ignored. The list
              is kept as a group you can disable or remove at once.
            </p>
            <label className="file-pick">
              Choose a file…
              <input
                type="file"
                accept=".txt,.hosts,.list,.conf,.netset,.json,text/plain,application/json"
                aria-label="List file"
                onChange={(event) => {
                  const file = event.target.files?.[0];
                  if (file) void readFile(file);
                }}
              />
            </label>
            <textarea
              aria-label="List text"
              rows={10}
              value={text}
              placeholder={'# or paste here\n203.0.113.0/24\ntracker.example.com'}
              onChange={(event) => {
                setText(event.target.value);
                setSource('pasted list');
              }}
            />
          </>
        )}
        {importing && (
          <div className="import-progress">
            <div
              className="progress"
              role="progressbar"
              aria-label="Import progress"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={percent}
            >
              <div className="progress-fill" style={{ width: `${percent}%` }} />
            </div>
            <p data-testid="import-summary">
              {summary
                ? `Imported from ${importing.source}: ${formatCount(summary.added)} added, ${formatCount(summary.alreadyPresent)} already present, ${formatCount(summary.skippedCount)} skipped.`
                : importing.phase === 'applying'
                  ? `Applying ${formatCount(importing.entries)} entries from ${importing.source}…`
                  : `Reading ${importing.source}: ${formatCount(importing.entries)} entries so far…`}
            </p>
            {summary?.lists.map((list) =>
              list.action === 'allow' && (!list.enabled || list.pendingCount > 0) ? (
                <p key={list.id} className="muted">
                  “{list.name}” is an allow list: it opens the firewall, so it stays off until you review and enable it
                  in Lists.
                </p>
              ) : null,
            )}
            {importing.error && (
              <p className="field-error" role="alert">
                The import stopped: {importing.error}
              </p>
            )}
            {summary && summary.skipped.length > 0 && (
              <details open={summary.skipped.length <= 20}>
                <summary>Skipped lines</summary>
                <ul className="skipped">
                  {summary.skipped.slice(0, 200).map((skip) => (
                    <li key={`${skip.line}:${skip.text}`}>
                      <span className="mono">
                        {skip.file === undefined
                          ? `line ${skip.line}`
                          : skip.line > 0
                            ? `${skip.file}:${skip.line}`
                            : skip.file}
                        : {skip.text}
                      </span>{' '}
                      — {skip.reason}
                    </li>
                  ))}
                  {summary.skippedCount > 200 && (
                    <li className="muted">…and {formatCount(summary.skippedCount - 200)} more</li>
                  )}
                </ul>
              </details>
            )}
          </div>
        )}
        <div className="dialog-actions">
          <button className="button" onClick={close} disabled={running}>
            {finished ? 'Close' : 'Cancel'}
          </button>
          {!importing && (
            <button
              className="button primary"
              disabled={text.trim() === ''}
              onClick={() => void importList(source, text)}
            >
              Import
            </button>
          )}
        </div>
      </div>
    </div>
  );
}
