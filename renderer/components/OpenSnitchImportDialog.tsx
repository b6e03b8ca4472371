// Migrating from OpenSnitch in the app, as `portcullis import --format opensnitch` does it: the
// person picks OpenSnitch's rule files or its rules folder, the renderer reads their text (never a
// path: the helper takes none) and sends them as one bundle; the helper maps them and says what it
// added and which files or rules it could not map, each with its place and reason. The same files
// again add nothing. OpenSnitch's rules are mostly allow rules, so the helper asks for an
// administrator: a refusal stores nothing and can be tried again with the same files.
import { useState } from 'react';
import type { ImportSummary } from '../../main/contract/lists';
import { useRules } from '../stores/rules-store';
import { useUi } from '../stores/ui-store';
import { formatCount } from '../model/format';
import { ruleFolder, type RuleFolder } from '../model/rule-folder';
import { ImportResult } from './ImportResult';
import { DialogFrame } from './DialogFrame';

/** The finished import in a line: rules added, or nothing new when every rule was already there. */
export function describeOpenSnitchImport(summary: ImportSummary, source: string): string {
  const rest = `${formatCount(summary.alreadyPresent)} already present, ${formatCount(summary.skippedCount)} skipped.`;
  return summary.added > 0
    ? `Imported from ${source}: ${formatCount(summary.added)} rule${summary.added === 1 ? '' : 's'} added, ${rest}`
    : `Nothing new from ${source}: ${rest}`;
}

function plural(count: number, one: string, many: string): string {
  return `${formatCount(count)} ${count === 1 ? one : many}`;
}

function describeFiles(files: readonly File[]): string {
  return files.length === 0
    ? 'No files chosen.'
    : `${plural(files.length, 'file', 'files')} chosen: ${files.map((file) => file.name).join(', ')}`;
}

function describeFolder({ name, rules, ignored }: RuleFolder): string {
  const others = ignored > 0 ? ` (${plural(ignored, 'other file', 'other files')} ignored)` : '';
  return rules.length === 0
    ? `No .json files in “${name}”${others}.`
    : `${plural(rules.length, 'rule file', 'rule files')} chosen from “${name}”${others}.`;
}

export function OpenSnitchImportDialog() {
  const importing = useRules((state) => state.importing);
  const importOpenSnitch = useRules((state) => state.importOpenSnitch);
  const clearImport = useRules((state) => state.clearImport);
  const closeImport = useUi((state) => state.closeImport);
  const [files, setFiles] = useState<File[]>([]);
  /** The folder the files came from, when one was picked. */
  const [folder, setFolder] = useState<RuleFolder | null>(null);
  const running = importing !== null && importing.phase !== 'done';

  function close() {
    if (running) return;
    clearImport();
    closeImport();
  }

  function start() {
    void importOpenSnitch(
      files.map((file) => ({
        name: file.name,
        size: file.size,
        read: () =>
          file.text().catch((error: unknown) => {
            throw new Error(`${file.name} cannot be read: ${(error as Error).message}`);
          }),
      })),
    );
  }

  function chooseFolder(picked: File[]) {
    const chosen = ruleFolder(picked);
    setFolder(chosen);
    setFiles(chosen?.rules ?? []);
  }

  return (
    <DialogFrame title="Import from OpenSnitch" onClose={close}>
      {!importing && (
        <>
          <p className="muted">
            Choose OpenSnitch’s rules folder (<code>/etc/opensnitchd/rules</code>, one JSON file per rule) or some of
            its files; OpenSnitch saves them readable by root only, so copy them where you can read them first. Each
            rule becomes outbound rules noted “OpenSnitch: <i>name</i>”. A rule with no Portcullis form (other regular
            expressions, users, command lines, interfaces, temporary durations) is listed with its file and why, and
            nothing of it is imported. OpenSnitch decides by rule order; Portcullis by the most specific rule, so review
            allow rules that relied on their order.
          </p>
          <label className="file-pick">
            Choose rule files…
            <input
              type="file"
              multiple
              accept=".json,application/json"
              aria-label="OpenSnitch rule files"
              onChange={(event) => {
                setFolder(null);
                setFiles([...(event.target.files ?? [])]);
              }}
            />
          </label>{' '}
          <label className="file-pick">
            Choose the rules folder…
            <input
              type="file"
              // Not in React's typings; Chromium and Electron pick a folder for it.
              ref={(input) => {
                if (input) input.webkitdirectory = true;
              }}
              aria-label="OpenSnitch rules folder"
              onChange={(event) => chooseFolder([...(event.target.files ?? [])])}
            />
          </label>
          <p className="muted" data-testid="opensnitch-chosen">
            {folder ? describeFolder(folder) : describeFiles(files)}
          </p>
        </>
      )}
      {importing && (
        <ImportResult importing={importing} describe={describeOpenSnitchImport} skippedHeading="Not imported" />
      )}
      <div className="dialog-actions">
        <button className="button" onClick={close} disabled={running}>
          {importing?.phase === 'done' ? 'Close' : 'Cancel'}
        </button>
        {!importing && (
          <button className="button primary" disabled={files.length === 0} onClick={start}>
            Import
          </button>
        )}
        {importing?.phase === 'done' && importing.error !== null && (
          // Nothing was stored (a refused administrator, a helper gone): the same files go again.
          <button className="button primary" onClick={start}>
            Try again
          </button>
        )}
      </div>
    </DialogFrame>
  );
}
