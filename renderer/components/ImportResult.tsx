// What an import is doing and what it did: a progress bar, the summary line, an allow list's
// review note, the error that stopped it, and every skipped entry with where it was and why (the
// same places and reasons the command line prints). Shared by the list and OpenSnitch imports.
import type { ImportSummary } from '../../main/contract/lists';
import { skippedPlace } from '../../main/contract/list-formats';
import type { ImportProgress } from '../stores/rules-store';
import { formatCount } from '../model/format';

/** Skipped entries shown; the rest are counted. */
const SKIPPED_SHOWN = 200;

interface ImportResultProps {
  importing: ImportProgress;
  /** The line for a finished import. */
  describe(summary: ImportSummary, source: string): string;
  /** What the skipped entries are, for the heading: "Skipped lines", "Skipped rules". */
  skippedHeading: string;
}

export function ImportResult({ importing, describe, skippedHeading }: ImportResultProps) {
  const summary = importing.summary;
  const finished = importing.phase === 'done';
  const percent = importing.total > 0 && !finished ? Math.round((importing.sent / importing.total) * 100) : 100;
  return (
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
          ? describe(summary, importing.source)
          : importing.phase === 'applying'
            ? `Applying ${formatCount(importing.entries)} entries from ${importing.source}…`
            : `Reading ${importing.source}: ${formatCount(importing.entries)} entries so far…`}
      </p>
      {summary?.lists.map((list) =>
        list.action === 'allow' && (!list.enabled || list.pendingCount > 0) ? (
          <p key={list.id} className="muted">
            “{list.name}” is an allow list: it opens the firewall, so it stays off until you review and enable it in
            Lists.
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
          <summary>{skippedHeading}</summary>
          <ul className="skipped" aria-label={skippedHeading}>
            {summary.skipped.slice(0, SKIPPED_SHOWN).map((skip) => (
              <li key={`${skippedPlace(skip)}:${skip.text}`}>
                <span className="mono">
                  {skippedPlace(skip)}: {skip.text}
                </span>{' '}
                — {skip.reason}
              </li>
            ))}
            {summary.skippedCount > SKIPPED_SHOWN && (
              <li className="muted">…and {formatCount(summary.skippedCount - SKIPPED_SHOWN)} more</li>
            )}
          </ul>
        </details>
      )}
    </div>
  );
}
