// The selected app: what it is, its per-app default, its traffic over time, and its rules.
import { useConnections } from '../stores/connections-store';
import { useRules } from '../stores/rules-store';
import { useUi } from '../stores/ui-store';
import { blockApp } from '../model/quick-block';
import { formatAgo, formatBytes, formatCount } from '../model/format';
import { AppIcon } from './AppIcon';
import { TrafficChart } from './TrafficChart';
import { useNow } from './use-now';

const KIND_LABEL: Record<string, string> = {
  desktop: 'Desktop application',
  flatpak: 'Flatpak',
  snap: 'Snap',
  appimage: 'AppImage',
  service: 'System service',
  container: 'Container',
  executable: 'Program',
  kernel: 'Kernel',
  unknown: 'Not yet identified',
};

export function AppDetails({ appId }: { appId: number }) {
  useConnections((state) => state.revision);
  const app = useConnections((state) => state.apps.get(appId));
  const group = useConnections((state) => state.groups.get(appId));
  const points = useConnections((state) => state.traffic.get(appId));
  const setAppDefault = useConnections((state) => state.setAppDefault);
  const rules = useRules((state) => state.rules);
  const add = useRules((state) => state.add);
  const selectApp = useUi((state) => state.selectApp);
  const now = useNow(2000);
  if (!app) return null;
  const appRules = rules.filter((rule) => rule.appId === app.id);
  return (
    <aside className="details" aria-label={`Details of ${app.name}`}>
      <header className="details-head">
        <AppIcon app={app} size={40} />
        <div>
          <h2>{app.name}</h2>
          <div className="muted">{KIND_LABEL[app.kind] ?? app.kind}</div>
        </div>
        <button className="link close" aria-label="Close details" onClick={() => selectApp(null)}>
          ✕
        </button>
      </header>
      <dl className="facts">
        {app.exe && (
          <>
            <dt>Program</dt>
            <dd className="mono">{app.exe}</dd>
          </>
        )}
        {app.identifier && (
          <>
            <dt>Identifier</dt>
            <dd className="mono">{app.identifier}</dd>
          </>
        )}
        {app.cgroup && (
          <>
            <dt>cgroup</dt>
            <dd className="mono">{app.cgroup}</dd>
          </>
        )}
        <dt>First seen</dt>
        <dd>{formatAgo(app.firstSeen, now)}</dd>
        {group && (
          <>
            <dt>Traffic</dt>
            <dd>
              {formatBytes(group.bytesIn)} in · {formatBytes(group.bytesOut)} out · {formatCount(group.flows.size)}{' '}
              {group.flows.size === 1 ? 'remote' : 'remotes'}
            </dd>
          </>
        )}
      </dl>
      <h3>Traffic</h3>
      <TrafficChart points={points ?? []} now={now} />
      <h3>When no rule matches</h3>
      <select
        aria-label="Default for this app"
        value={app.defaultAction ?? ''}
        onChange={(event) =>
          void setAppDefault(app.id, event.target.value === '' ? null : (event.target.value as 'allow' | 'block'))
        }
      >
        <option value="">Use the global default</option>
        <option value="allow">Allow (needs an administrator)</option>
        <option value="block">Block</option>
      </select>
      <h3>Rules for this app ({appRules.length})</h3>
      <ul className="mini-rules">
        {appRules.slice(0, 8).map((rule) => (
          <li key={rule.id}>
            <span className={`pill ${rule.action === 'block' ? 'pill-block' : 'pill-allow'}`}>{rule.action}</span>{' '}
            {rule.remote.kind === 'any'
              ? 'everything'
              : rule.remote.kind === 'domain'
                ? rule.remote.name
                : rule.remote.text}
          </li>
        ))}
      </ul>
      <button className="button danger" onClick={() => void add(blockApp(app))}>
        Block all traffic of {app.name}
      </button>
    </aside>
  );
}
