import { describe, expect, it } from 'vitest';
import { waitFor } from '@testing-library/react';
import { installBridge } from '../../../renderer/bridge';
import { parseBlocklist } from '../../../main/contract/blocklist';
import { app, createFakeApi, flow, status } from '../../support/renderer/fake-api';
import { useConnections } from '../../../renderer/stores/connections-store';
import { IMPORT_CHUNK, useRules } from '../../../renderer/stores/rules-store';
import { useHelper } from '../../../renderer/stores/helper-store';
import { useNotices } from '../../../renderer/stores/notices-store';

describe('connections store', () => {
  it('applies a burst of event batches in one store update', async () => {
    const api = createFakeApi();
    api.apps = [app(1, 'curl')];
    installBridge(api);
    await useConnections.getState().loadApps();
    const before = useConnections.getState().revision;
    for (let i = 0; i < 50; i++) {
      useConnections.getState().ingest({
        events: [
          {
            time: 1000 + i,
            appId: 1,
            pid: 9,
            uid: 0,
            comm: 'curl',
            remoteAddr: `10.0.0.${i}`,
            remoteName: null,
            remotePort: 80,
            localPort: 4000 + i,
            protocol: 'tcp',
            direction: 'out',
            verdict: i % 2 ? 'block' : 'allow',
            ruleId: null,
          },
        ],
        dropped: i === 49 ? 3 : 0,
      });
    }
    expect(useConnections.getState().revision).toBe(before); // nothing applied yet: waiting for the frame
    await waitFor(() => expect(useConnections.getState().flowCount).toBe(50));
    expect(useConnections.getState().revision).toBe(before + 1);
    expect(useConnections.getState().dropped).toBe(3);
    expect(useConnections.getState().groups.get(1)!.blocked).toBe(25);
  });

  it('turns byte growth between polls into traffic points per app', async () => {
    const api = createFakeApi();
    api.apps = [app(1, 'curl')];
    api.flows = [flow(1, '10.0.0.1', { bytesIn: 1000, bytesOut: 10, lastSeen: Date.now() })];
    installBridge(api);
    await useConnections.getState().loadFlows();
    expect(useConnections.getState().traffic.get(1)).toBeUndefined(); // history, not traffic "now"
    api.flows = [flow(1, '10.0.0.1', { bytesIn: 5000, bytesOut: 60, lastSeen: Date.now() })];
    await useConnections.getState().poll();
    expect(useConnections.getState().traffic.get(1)).toEqual([
      expect.objectContaining({ bytesIn: 4000, bytesOut: 50 }),
    ]);
    expect(useConnections.getState().groups.get(1)!.bytesIn).toBe(5000);
  });
});

describe('rules store', () => {
  it('imports a list in chunks, reporting progress and what was skipped', async () => {
    const api = createFakeApi();
    installBridge(api);
    const lines = [
      '# my list',
      '0.0.0.0 localhost',
      'not a host!',
      ...Array.from({ length: IMPORT_CHUNK * 2 + 7 }, (_, i) => `10.${i >> 8}.${i & 255}.1`),
      '10.0.0.1',
    ];
    const seen: number[] = [];
    const stop = useRules.subscribe((state) => state.importing && seen.push(state.importing.done));
    await useRules.getState().importList('blocklist.txt', lines.join('\n'));
    stop();
    const importing = useRules.getState().importing!;
    expect(importing).toMatchObject({
      total: IMPORT_CHUNK * 2 + 7,
      done: IMPORT_CHUNK * 2 + 7,
      finished: true,
      error: null,
    });
    expect(importing.skipped.map((skip) => skip.line)).toEqual([2, 3, lines.length]);
    expect(importing.skipped[2]!.reason).toMatch(/duplicate/);
    expect(new Set(seen)).toEqual(new Set([0, IMPORT_CHUNK, IMPORT_CHUNK * 2, IMPORT_CHUNK * 2 + 7]));
    expect(api.calls.filter((call) => call.name === 'addRules')).toHaveLength(3);
    expect(useRules.getState().rules).toHaveLength(IMPORT_CHUNK * 2 + 7);
  });

  it('exports block rules as a list that imports back to the same remotes', async () => {
    const api = createFakeApi();
    installBridge(api);
    await useRules.getState().add({ action: 'block', remote: '203.0.113.0/24' });
    await useRules.getState().add({ action: 'block', remote: '*.tracker.example' });
    await useRules.getState().add({ action: 'allow', remote: 'example.org' });
    expect(parseBlocklist(useRules.getState().exportList()).remotes).toEqual(['203.0.113.0/24', '*.tracker.example']);
  });

  it('reports a refused rule with where it was wrong', async () => {
    installBridge(createFakeApi());
    expect(await useRules.getState().add({ action: 'block', remote: '10.0.0.0/33' })).toBeNull();
    expect(useNotices.getState().notices[0]!.text).toMatch(/rule\.remote/);
  });
});

describe('helper store', () => {
  it('shows a cancelled polkit dialog as such and follows helper state notifications', async () => {
    const api = createFakeApi();
    api.helper = { state: 'not-running', message: 'nothing answers' };
    api.startOutcome = { state: 'cancelled', message: 'authentication was cancelled' };
    installBridge(api);
    const stop = await useHelper.getState().init();
    expect(useHelper.getState().helper.state).toBe('not-running');
    expect(await useHelper.getState().startHelper()).toEqual({
      state: 'cancelled',
      message: 'authentication was cancelled',
    });
    api.emit('helperState', { state: 'connected', status: status({ pid: 4242 }) });
    expect(useHelper.getState().helper.state).toBe('connected');
    expect(useHelper.getState().status?.pid).toBe(4242);
    stop();
  });
});
