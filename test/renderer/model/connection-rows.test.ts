import { describe, expect, it } from 'vitest';
import { buildRows, type RowFilter } from '../../../renderer/model/connection-rows';
import { applyEvent, putFlow, type AppGroup } from '../../../renderer/model/flow-groups';
import { app, flow } from '../../support/renderer/fake-api';
import type { App } from '../../../main/contract/domain';

const none: RowFilter = { text: '', verdict: 'all', appId: null };

function fixture() {
  const apps = new Map<number, App>([
    [1, app(1, 'Firefox')],
    [2, app(2, 'curl')],
  ]);
  const groups = new Map<number, AppGroup>();
  putFlow(groups, flow(1, '93.184.216.34', { remoteName: 'example.com', lastSeen: 5000, bytesIn: 5000 }));
  putFlow(
    groups,
    flow(1, '140.82.112.3', { remoteName: 'github.com', lastSeen: 3000, blocked: 2, allowed: 0, lastVerdict: 'block' }),
  );
  putFlow(groups, flow(2, '10.0.0.5', { remotePort: 8080, lastSeen: 9000 }));
  return { apps, groups };
}

describe('buildRows', () => {
  it('groups by app, most recent first, collapsed until expanded', () => {
    const { apps, groups } = fixture();
    const collapsed = buildRows(apps, groups, none, 'recent', new Set());
    expect(collapsed.rows.toArray().map((row) => (row.kind === 'app' ? row.app.name : row.flow.remoteAddr))).toEqual([
      'curl',
      'Firefox',
    ]);
    expect(collapsed.flowCount).toBe(3);
    const open = buildRows(apps, groups, none, 'recent', new Set([1]));
    expect(open.rows.toArray().map((row) => (row.kind === 'app' ? row.app.name : row.flow.remoteAddr))).toEqual([
      'curl',
      'Firefox',
      '93.184.216.34',
      '140.82.112.3',
    ]);
  });

  it('searches hosts, addresses and ports and opens the groups that matched', () => {
    const { apps, groups } = fixture();
    const byName = buildRows(apps, groups, { ...none, text: 'GitHub' }, 'recent', new Set());
    expect(byName.rows.toArray().map((row) => (row.kind === 'app' ? row.app.name : row.flow.remoteName))).toEqual([
      'Firefox',
      'github.com',
    ]);
    const byPort = buildRows(apps, groups, { ...none, text: '8080' }, 'recent', new Set());
    expect(byPort.flowCount).toBe(1);
    const byApp = buildRows(apps, groups, { ...none, text: 'firefox' }, 'recent', new Set());
    expect(byApp.flowCount).toBe(2);
  });

  it('filters by verdict and by app, and sorts by traffic and name', () => {
    const { apps, groups } = fixture();
    const blocked = buildRows(apps, groups, { ...none, verdict: 'blocked' }, 'recent', new Set());
    expect(
      blocked.rows
        .toArray()
        .filter((row) => row.kind === 'flow')
        .map((row) => row.kind === 'flow' && row.flow.remoteAddr),
    ).toEqual(['140.82.112.3']);
    const onlyCurl = buildRows(apps, groups, { ...none, appId: 2 }, 'recent', new Set());
    expect(onlyCurl.appCount).toBe(1);
    expect(
      buildRows(apps, groups, none, 'traffic', new Set()).rows.at(0)!.kind === 'app' &&
        buildRows(apps, groups, none, 'traffic', new Set()).rows.at(0),
    ).toMatchObject({ app: { name: 'Firefox' } });
    expect(
      buildRows(apps, groups, none, 'name', new Set([1]))
        .rows.toArray()
        .map((row) => (row.kind === 'flow' ? row.flow.remoteName : row.app.name)),
    ).toEqual(['curl', 'Firefox', 'example.com', 'github.com']);
  });

  it('counts live events into existing and new flows', () => {
    const { apps, groups } = fixture();
    applyEvent(groups, {
      time: 10_000,
      appId: 2,
      pid: 1,
      uid: 0,
      comm: 'curl',
      remoteAddr: '10.0.0.5',
      remoteName: null,
      remotePort: 8080,
      localPort: 5555,
      protocol: 'tcp',
      direction: 'out',
      verdict: 'block',
      ruleId: 7,
    });
    applyEvent(groups, {
      time: 10_001,
      appId: 2,
      pid: 1,
      uid: 0,
      comm: 'curl',
      remoteAddr: '10.0.0.6',
      remoteName: 'db.lan',
      remotePort: 5432,
      localPort: 5556,
      protocol: 'tcp',
      direction: 'out',
      verdict: 'allow',
      ruleId: null,
    });
    const group = groups.get(2)!;
    expect(group.flows.size).toBe(2);
    expect(group.blocked).toBe(1);
    const rows = buildRows(apps, groups, { ...none, verdict: 'blocked' }, 'recent', new Set());
    expect(rows.rows.toArray().find((row) => row.kind === 'flow' && row.flow.remoteAddr === '10.0.0.5')).toMatchObject({
      flow: { lastVerdict: 'block', lastRuleId: 7 },
    });
  });

  it('narrowing a search as someone types gives the same rows as searching afresh, also after new events', () => {
    const { apps, groups } = fixture();
    const names = (result: ReturnType<typeof buildRows>) =>
      result.rows.toArray().map((row) => (row.kind === 'app' ? row.app.name : row.flow.remoteAddr));
    const typed = ['e', 'ex', 'exa', 'exam'].map((text) =>
      names(buildRows(apps, groups, { ...none, text }, 'recent', new Set())),
    );
    // A new flow that matches the longer text arrives between keystrokes.
    applyEvent(groups, {
      time: 20_000,
      appId: 2,
      pid: 1,
      uid: 0,
      comm: 'curl',
      remoteAddr: '192.0.2.1',
      remoteName: 'example.net',
      remotePort: 80,
      localPort: 5000,
      protocol: 'tcp',
      direction: 'out',
      verdict: 'allow',
      ruleId: null,
    });
    const narrowed = names(buildRows(apps, groups, { ...none, text: 'examp' }, 'recent', new Set()));
    buildRows(apps, groups, none, 'recent', new Set()); // forget the search
    expect(narrowed).toEqual(names(buildRows(apps, groups, { ...none, text: 'examp' }, 'recent', new Set())));
    expect(narrowed).toContain('192.0.2.1');
    expect(typed[3]).toEqual(['Firefox', '93.184.216.34']);
  });
});
