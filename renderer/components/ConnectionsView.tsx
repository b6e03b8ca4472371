import { useMemo } from 'react';
import { useConnections } from '../stores/connections-store';
import { useUi } from '../stores/ui-store';
import { buildRows } from '../model/connection-rows';
import { ConnectionToolbar } from './ConnectionToolbar';
import { ConnectionList } from './ConnectionList';
import { AppDetails } from './AppDetails';

export function ConnectionsView() {
  const revision = useConnections((state) => state.revision);
  const apps = useConnections((state) => state.apps);
  const groups = useConnections((state) => state.groups);
  const loading = useConnections((state) => state.loading);
  const filter = useUi((state) => state.filter);
  const sort = useUi((state) => state.sort);
  const expanded = useUi((state) => state.expanded);
  const selectedAppId = useUi((state) => state.selectedAppId);
  // groups and apps change in place; revision says when.
  const result = useMemo(
    () => buildRows(apps, groups, filter, sort, expanded),
    [apps, groups, filter, sort, expanded, revision],
  );
  return (
    // data-query says which search the rendered rows are for (tests and bench/ui.ts wait on it).
    <section className="view connections-view" aria-label="Connections" data-query={filter.text}>
      <ConnectionToolbar appCount={result.appCount} flowCount={result.flowCount} />
      <div className="split">
        {loading && result.rows.length === 0 ? (
          <div className="empty">Loading connections…</div>
        ) : (
          <ConnectionList rows={result.rows} />
        )}
        {selectedAppId !== null && <AppDetails appId={selectedAppId} />}
      </div>
    </section>
  );
}
