// Import a list (a hosts file, one address/CIDR/domain per line, AdBlock filters, or Portcullis's
// JSON) with progress and a summary: added, already present, and what was skipped and why. The
// helper parses and stores it, as it does for the command line. An import that fails as a whole (a
// refusal, the helper gone) stored nothing (the helper commits a list in one transaction, and adds no
// entry twice), so Try again sends the same text again; a file that could not be read is read again.
import { useRef, useState } from 'react';
import { useRules } from '../stores/rules-store';
import { useUi } from '../stores/ui-store';
import { formatCount } from '../model/format';
import { ImportResult } from './ImportResult';
import { DialogFrame } from './DialogFrame';

export function ImportDialog() {
  const importing = useRules((state) => state.importing);
  const importList = useRules((state) => state.importList);
  const clearImport = useRules((state) => state.clearImport);
  const closeImport = useUi((state) => state.closeImport);
  const [text, setText] = useState('');
  const [source, setSource] = useState('pasted list');
  /** The chosen file that could not be read, and why; Try again reads it again. */
  const [unread, setUnread] = useState<{ file: File; error: string } | null>(null);
  /** The file chosen last: a slower read of an earlier one must not replace its text. */
  const chosen = useRef<File | null>(null);
  const running = importing !== null && importing.phase !== 'done';

  function close() {
    if (running) return;
    clearImport();
    closeImport();
  }

  async function readFile(file: File) {
    chosen.current = file;
    setSource(file.name);
    setText('');
    setUnread(null);
    try {
      const read = await file.text();
      if (chosen.current === file) setText(read);
    } catch (error) {
      if (chosen.current === file)
        setUnread({ file, error: `${file.name} cannot be read: ${(error as Error).message}` });
    }
  }

  const finished = importing?.phase === 'done';
  const failed = finished && importing.error !== null;

  return (
    <DialogFrame title="Import a list" onClose={close}>
      {!importing && (
        <>
          <p className="muted">
            A hosts file (<code>0.0.0.0 ads.example.com</code>), one address, CIDR or domain per line, AdBlock filters (
            <code>||ads.example.com^</code>) or a Portcullis JSON export. Lines starting with # are ignored. The list is
            kept as a group you can disable or remove at once.
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
          {unread && (
            <p className="field-error" role="alert">
              {unread.error}
            </p>
          )}
          <textarea
            aria-label="List text"
            rows={10}
            value={text}
            placeholder={'# or paste here\n203.0.113.0/24\ntracker.example.com'}
            onChange={(event) => {
              setText(event.target.value);
              setSource('pasted list');
              setUnread(null);
              chosen.current = null;
            }}
          />
        </>
      )}
      {importing && (
        <ImportResult
          importing={importing}
          describe={(summary, source) =>
            `Imported from ${source}: ${formatCount(summary.added)} added, ${formatCount(summary.alreadyPresent)} already present, ${formatCount(summary.skippedCount)} skipped.`
          }
          skippedHeading="Skipped lines"
        />
      )}
      <div className="dialog-actions">
        <button className="button" onClick={close} disabled={running}>
          {finished ? 'Close' : 'Cancel'}
        </button>
        {!importing && unread && (
          <button className="button" onClick={() => void readFile(unread.file)}>
            Try again
          </button>
        )}
        {!importing && (
          <button
            className="button primary"
            disabled={text.trim() === ''}
            onClick={() => void importList(source, text)}
          >
            Import
          </button>
        )}
        {failed && (
          // Nothing of it was stored: the same text goes again.
          <button className="button primary" onClick={() => void importList(source, text)}>
            Try again
          </button>
        )}
      </div>
    </DialogFrame>
  );
}
