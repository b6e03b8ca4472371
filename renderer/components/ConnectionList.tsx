// The virtualised list of apps and their remotes: only the rows in view are in the DOM, so 100k
// connections scroll as smoothly as ten.
import { useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { RowList } from '../model/connection-rows';
import { AppRow, FlowRow, APP_ROW_HEIGHT, FLOW_ROW_HEIGHT } from './ConnectionRows';
import { useNow } from './use-now';

export function ConnectionList({ rows }: { rows: RowList }) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const now = useNow();
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (index) => (rows.at(index)?.kind === 'app' ? APP_ROW_HEIGHT : FLOW_ROW_HEIGHT),
    getItemKey: (index) => {
      const row = rows.at(index)!;
      return row.kind === 'app'
        ? `app:${row.app.id}`
        : `flow:${row.flow.appId}|${row.flow.remoteAddr}|${row.flow.remotePort}|${row.flow.protocol}|${row.flow.direction}`;
    },
    overscan: 12,
    // jsdom has no layout; a window-sized start keeps tests and the first paint meaningful.
    initialRect: { width: 1000, height: 700 },
  });
  if (rows.length === 0) {
    return (
      <div className="empty">
        <p>No connections match.</p>
        <p className="muted">Connections appear here as applications talk to the network.</p>
      </div>
    );
  }
  return (
    <div className="list-scroll" ref={scrollRef} role="table" aria-label="Connections" aria-rowcount={rows.length}>
      <div className="list-header" role="row">
        <span role="columnheader" className="col-host">
          Application / host
        </span>
        <span role="columnheader" className="col-port">
          Port
        </span>
        <span role="columnheader" className="col-dir">
          Dir
        </span>
        <span role="columnheader" className="col-bytes">
          In
        </span>
        <span role="columnheader" className="col-bytes">
          Out
        </span>
        <span role="columnheader" className="col-seen">
          Last seen
        </span>
        <span role="columnheader" className="col-verdict">
          Verdict
        </span>
        <span role="columnheader" className="col-actions">
          Actions
        </span>
      </div>
      <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = rows.at(item.index)!;
          return (
            <div
              key={item.key}
              className="virtual-row"
              style={{ transform: `translateY(${item.start}px)`, height: item.size }}
            >
              {row.kind === 'app' ? <AppRow row={row} now={now} /> : <FlowRow row={row} now={now} />}
            </div>
          );
        })}
      </div>
    </div>
  );
}
