// What happened to the helper, in plain words, with the way forward.
import type { HelperView } from '../stores/helper-store';
import { useHelper } from '../stores/helper-store';

export function HelperMessage({ helper }: { helper: HelperView }) {
  switch (helper.state) {
    case 'unknown':
      return <p className="muted">Looking for the helper…</p>;
    case 'connected':
      return null;
    case 'starting':
      return <p>Starting the helper. Your desktop may ask for your password.</p>;
    case 'not-running':
      return <p>The helper is not running. {helper.message}</p>;
    case 'cancelled':
      return (
        <p className="warn" role="alert">
          You closed the password dialog, so the helper was not started. {helper.message}
        </p>
      );
    case 'refused':
      return (
        <p className="warn" role="alert">
          Your account is not allowed to start the helper. {helper.message}
        </p>
      );
    case 'failed':
      return (
        <p className="warn" role="alert">
          The helper could not be started: {helper.message}
        </p>
      );
  }
}

export function HelperBanner() {
  const helper = useHelper((state) => state.helper);
  const startHelper = useHelper((state) => state.startHelper);
  if (helper.state === 'connected' || helper.state === 'unknown') return null;
  return (
    <div className="banner" role="region" aria-label="Helper">
      <HelperMessage helper={helper} />
      <span className="grow" />
      {helper.state !== 'starting' && (
        <button className="button primary" onClick={() => void startHelper()}>
          Start helper
        </button>
      )}
    </div>
  );
}
