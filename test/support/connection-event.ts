// A live connection event as the helper pushes them, for the tests of what consumes them (the renderer's
// stores and components, the tray and notifications).
import type { ConnectionEvent } from '../../main/contract/domain';

/** A live connection event of curl (pid 5) to `remoteAddr`, allowed, as the helper pushes them. */
export function connectionEvent(
  appId: number,
  remoteAddr: string,
  overrides: Partial<ConnectionEvent> = {},
): ConnectionEvent {
  return {
    time: Date.now(),
    appId,
    pid: 5,
    uid: 0,
    comm: 'curl',
    remoteAddr,
    remoteName: null,
    remotePort: 443,
    localPort: 40000,
    protocol: 'tcp',
    direction: 'out',
    verdict: 'allow',
    ruleId: null,
    ...overrides,
  };
}
