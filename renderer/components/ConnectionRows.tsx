// One app header and one remote row of the connection list.
import { memo } from 'react';
import type { Row } from '../model/connection-rows';
import { formatAgo, formatBytes, formatCount } from '../model/format';
import { blockApp, blockHostEverywhere, blockHostForApp, hostOf } from '../model/quick-block';
import { useRules } from '../stores/rules-store';
import { useUi } from '../stores/ui-store';
import { AppIcon } from './AppIcon';

export const APP_ROW_HEIGHT = 52;
export const FLOW_ROW_HEIGHT = 36;

type AppRowData = Extract<Row, { kind: 'app' }>;
type FlowRowData = Extract<Row, { kind: 'flow' }>;

export const AppRow = memo(function AppRow({ row, now }: { row: AppRowData; now: number }) {
  const { app, group } = row;
  const toggle = useUi((state) => state.toggleExpanded);
  const selectApp = useUi((state) => state.selectApp);
  const selected = useUi((state) => state.selectedAppId === app.id);
  const add = useRules((state) => state.add);
  return (
    <div
      className={`row app-row${selected ? ' selected' : ''}`}
      role="row"
      aria-expanded={row.expanded}
      data-app={app.name}
      onClick={() => {
        toggle(app.id);
        selectApp(app.id);
      }}
    >
      <span className="col-host" role="cell">
        <span className={`chevron${row.expanded ? ' open' : ''}`} aria-hidden="true">
          ›
        </span>
        <AppIcon app={app} />
        <span className="app-names">
          <span className="app-name">{app.name}</span>
          <span className="app-path muted">{app.exe ?? app.identifier ?? app.cgroup ?? `app ${app.id}`}</span>
        </span>
        <span className="badge">
          {formatCount(row.shown)} {row.shown === 1 ? 'remote' : 'remotes'}
        </span>
      </span>
      <span className="col-port" role="cell" />
      <span className="col-dir" role="cell" />
      <span className="col-bytes" role="cell">
        {formatBytes(group.bytesIn)}
      </span>
      <span className="col-bytes" role="cell">
        {formatBytes(group.bytesOut)}
      </span>
      <span className="col-seen muted" role="cell">
        {formatAgo(group.lastSeen, now)}
      </span>
      <span className="col-verdict" role="cell">
        {group.blocked > 0 ? (
          <span className="pill pill-block">{formatCount(group.blocked)} blocked</span>
        ) : (
          <span className="pill pill-allow">allowed</span>
        )}
      </span>
      <span className="col-actions" role="cell">
        <button
          className="button small danger-outline"
          title={`Block all traffic of ${app.name}`}
          onClick={(event) => {
            event.stopPropagation();
            void add(blockApp(app));
          }}
        >
          Block app
        </button>
      </span>
    </div>
  );
});

export const FlowRow = memo(function FlowRow({ row, now }: { row: FlowRowData; now: number }) {
  const { flow, app } = row;
  const add = useRules((state) => state.add);
  const host = hostOf(flow);
  return (
    <div className="row flow-row" role="row" data-remote={flow.remoteAddr} data-port={flow.remotePort}>
      <span className="col-host" role="cell">
        <span className="host-name">{flow.remoteName ?? flow.remoteAddr}</span>
        {flow.remoteName && <span className="muted host-addr">{flow.remoteAddr}</span>}
      </span>
      <span className="col-port" role="cell">
        {flow.remotePort || '—'}
        <span className="muted">/{flow.protocol}</span>
      </span>
      <span className="col-dir" role="cell" title={flow.direction === 'out' ? 'outbound' : 'inbound'}>
        {flow.direction === 'out' ? '↗ out' : '↙ in'}
      </span>
      <span className="col-bytes" role="cell">
        {formatBytes(flow.bytesIn)}
      </span>
      <span className="col-bytes" role="cell">
        {formatBytes(flow.bytesOut)}
      </span>
      <span className="col-seen muted" role="cell">
        {formatAgo(flow.lastSeen, now)}
      </span>
      <span className="col-verdict" role="cell">
        <span
          className={`pill ${flow.lastVerdict === 'block' ? 'pill-block' : 'pill-allow'}`}
          title={`${flow.allowed} allowed, ${flow.blocked} blocked`}
        >
          {flow.lastVerdict === 'block' ? 'Blocked' : 'Allowed'}
        </span>
        {flow.lastVerdict === 'allow' && flow.blocked > 0 && (
          <span className="also-blocked" title="blocked earlier">
            {formatCount(flow.blocked)}× blocked
          </span>
        )}
      </span>
      <span className="col-actions" role="cell">
        <button
          className="button small"
          title={`Block ${host} for ${app.name} only`}
          onClick={() => void add(blockHostForApp(flow, app))}
        >
          Block for app
        </button>
        <button
          className="button small danger-outline"
          title={`Block ${host} for every application`}
          onClick={() => void add(blockHostEverywhere(flow))}
        >
          Block everywhere
        </button>
      </span>
    </div>
  );
});
