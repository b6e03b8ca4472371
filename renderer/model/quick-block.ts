// The one-click rules offered on a connection row and an app.
import type { App, Flow } from '../../main/contract/domain';
import type { RuleDraft } from '../../main/contract/rules';

/** A host as people know it: the name the app resolved, or else the address. */
export const hostOf = (flow: Pick<Flow, 'remoteName' | 'remoteAddr'>): string => flow.remoteName ?? flow.remoteAddr;

export function blockHostForApp(flow: Flow, app: App): RuleDraft {
  return {
    action: 'block',
    app: app.id,
    remote: hostOf(flow),
    note: `blocked from the connection list for ${app.name}`,
  };
}

export function blockHostEverywhere(flow: Flow): RuleDraft {
  return { action: 'block', remote: hostOf(flow), note: 'blocked from the connection list for every app' };
}

export function blockApp(app: App): RuleDraft {
  return { action: 'block', app: app.id, remote: 'any', note: `all traffic of ${app.name} blocked` };
}
