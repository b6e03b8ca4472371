// Import a block list (hosts file, or one address/CIDR/domain per line) with progress and a summary of
// what was skipped and why.
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
  const running = importing !== null && !importing.finished;

  function close() {
    if (running) return;
    clearImport();
    setImportOpen(false);
  }

  async function readFile(file: File) {
    setSource(file.name);
    setText(await file.text());
  }

  const percent =
    importing && importing.total > 0
      ? Math.round((importing.done / importing.total) * 100)
      : importing?.finished
        ? 100
        : 0;

  return (
    <div className="dialog-backdrop" onClick={close}>
      <div
        className="dialog wide-dialog"
        role="dialog"
        aria-label="Import a block list"
        onClick={(event) => event.stopPropagation()}
      >
        <h2>Import a block list</h2>
        {!importing && (
          <>
            <p className="muted">
              A hosts file (<code>0.0.0.0 ads.example.com</code>) or one address, CIDR or domain per line. Lines
              starting with # are ignored.
            </p>
            <label className="file-pick">
              Choose a file…
              <input
                type="file"
                accept=".txt,.hosts,.list,.conf,text/plain"
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
              aria-valuemax={importing.total}
              aria-valuenow={importing.done}
            >
              <div className="progress-fill" style={{ width: `${percent}%` }} />
            </div>
            <p data-testid="import-summary">
              {importing.finished ? 'Imported' : 'Importing'} {formatCount(importing.done)} of{' '}
              {formatCount(importing.total)} entries from {importing.source}
              {importing.skipped.length > 0 && `; ${formatCount(importing.skipped.length)} lines skipped`}.
            </p>
            {importing.error && (
              <p className="field-error" role="alert">
                The import stopped: {importing.error}
              </p>
            )}
            {importing.finished && importing.skipped.length > 0 && (
              <details open={importing.skipped.length <= 20}>
                <summary>Skipped lines</summary>
                <ul className="skipped">
                  {importing.skipped.slice(0, 200).map((skip) => (
                    <li key={`${skip.line}:${skip.text}`}>
                      <span className="mono">
                        line {skip.line}: {skip.text}
                      </span>{' '}
                      — {skip.reason}
                    </li>
                  ))}
                  {importing.skipped.length > 200 && (
                    <li className="muted">…and {formatCount(importing.skipped.length - 200)} more</li>
                  )}
                </ul>
              </details>
            )}
          </div>
        )}
        <div className="dialog-actions">
          <button className="button" onClick={close} disabled={running}>
            {importing?.finished ? 'Close' : 'Cancel'}
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
