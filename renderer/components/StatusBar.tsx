// Helper state, enforcement, rule count, event drops and the kernel's feature forms, always in view.
import { useHelper } from '../stores/helper-store';
import { useConnections } from '../stores/connections-store';
import { useRules } from '../stores/rules-store';
import { formatClock, formatCount } from '../model/format';
import { KernelSummary } from './KernelFeatures';

const HELPER_LABEL = {
  unknown: 'Helper: checking…',
  connected: 'Helper connected',
  'not-running': 'Helper not running',
  starting: 'Starting helper…',
  cancelled: 'Helper start cancelled',
  refused: 'Helper start refused',
  failed: 'Helper failed',
} as const;

export function StatusBar() {
  const helper = useHelper((state) => state.helper);
  const status = useHelper((state) => state.status);
  const rulesLoaded = useRules((state) => state.loaded);
  const ruleCount = useRules((state) => state.rules.length);
  const clientDrops = useConnections((state) => state.dropped);
  const connected = helper.state === 'connected';
  const drops = (status?.eventDrops ?? 0) + clientDrops;
  return (
    <footer className="status-bar" aria-label="Status">
      <span
        className={`dot ${connected ? 'dot-ok' : helper.state === 'starting' || helper.state === 'unknown' ? 'dot-wait' : 'dot-bad'}`}
      />
      <span data-testid="helper-state">{HELPER_LABEL[helper.state]}</span>
      {connected && status && (
        <>
          <span className="sep" />
          <span data-testid="enforcement-state">
            {status.enforcing
              ? 'Enforcing'
              : status.pausedUntil
                ? `Paused until ${formatClock(status.pausedUntil)}`
                : 'Paused'}
            {' · '}
            {status.defaultAction === 'allow'
              ? 'monitor mode'
              : status.defaultAction === 'block'
                ? 'allow-list mode'
                : 'ask mode'}
          </span>
          <span className="sep" />
          <span data-testid="rule-count">{formatCount(rulesLoaded ? ruleCount : status.ruleCount)} rules</span>
          <span className="sep" />
          <span
            className={drops > 0 ? 'warn' : undefined}
            title="Events the kernel or the helper could not deliver (the counts stay right; only live rows are missed)"
          >
            {formatCount(drops)} events dropped
          </span>
          <span className="sep" />
          <KernelSummary release={status.kernel.kernelRelease} features={status.kernel.features} />
          <span className="grow" />
          <span className="muted">
            helper {status.version} · pid {status.pid}
          </span>
        </>
      )}
    </footer>
  );
}
