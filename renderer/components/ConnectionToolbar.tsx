import { useMemo } from 'react';
import { useUi } from '../stores/ui-store';
import { useConnections } from '../stores/connections-store';
import type { SortKey, VerdictFilter } from '../model/connection-rows';
import { formatCount } from '../model/format';

const VERDICTS: Array<[VerdictFilter, string]> = [
  ['all', 'All'],
  ['allowed', 'Allowed'],
  ['blocked', 'Blocked'],
];
const SORTS: Array<[SortKey, string]> = [
  ['recent', 'Most recent'],
  ['name', 'Name'],
  ['traffic', 'Most traffic'],
  ['blocked', 'Most blocked'],
];

export function ConnectionToolbar({ appCount, flowCount }: { appCount: number; flowCount: number }) {
  const filter = useUi((state) => state.filter);
  const sort = useUi((state) => state.sort);
  const setFilter = useUi((state) => state.setFilter);
  const setSort = useUi((state) => state.setSort);
  const revision = useConnections((state) => state.revision);
  const historyTotal = useConnections((state) => state.historyTotal);
  const historyLoaded = useConnections((state) => state.historyLoaded);
  const apps = useConnections((state) => state.apps);
  const appOptions = useMemo(() => [...apps.values()].sort((a, b) => a.name.localeCompare(b.name)), [apps, revision]);
  return (
    <div className="toolbar">
      <input
        className="search"
        type="search"
        placeholder="Search apps, hosts, addresses, ports"
        aria-label="Search connections"
        value={filter.text}
        onChange={(event) => setFilter({ text: event.target.value })}
      />
      <div className="segmented" role="group" aria-label="Verdict">
        {VERDICTS.map(([value, label]) => (
          <button key={value} aria-pressed={filter.verdict === value} onClick={() => setFilter({ verdict: value })}>
            {label}
          </button>
        ))}
      </div>
      <select
        aria-label="Application"
        value={filter.appId ?? ''}
        onChange={(event) => setFilter({ appId: event.target.value ? Number(event.target.value) : null })}
      >
        <option value="">All applications</option>
        {appOptions.map((app) => (
          <option key={app.id} value={app.id}>
            {app.name}
          </option>
        ))}
      </select>
      <select aria-label="Sort by" value={sort} onChange={(event) => setSort(event.target.value as SortKey)}>
        {SORTS.map(([value, label]) => (
          <option key={value} value={value}>
            {label}
          </option>
        ))}
      </select>
      <span className="grow" />
      {historyLoaded < historyTotal && (
        <span className="muted" data-testid="history-progress" role="status">
          loading history: {formatCount(historyLoaded)} of {formatCount(historyTotal)}
        </span>
      )}
      <span className="muted" data-testid="connection-counts">
        {formatCount(appCount)} apps · {formatCount(flowCount)} connections
      </span>
    </div>
  );
}
