import { describe, expect, it } from 'vitest';
import { waitFor } from '@testing-library/react';
import { installBridge } from '../../../renderer/bridge';
import { IMPORT_CHUNK_CHARS } from '../../../main/contract/lists';
import { app, connectionEvent, createFakeApi, flow, status } from '../../support/renderer/fake-api';
import { useConnections } from '../../../renderer/stores/connections-store';
import { useRules } from '../../../renderer/stores/rules-store';
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
          connectionEvent(1, `10.0.0.${i}`, {
            time: 1000 + i,
            pid: 9,
            remotePort: 80,
            localPort: 4000 + i,
            verdict: i % 2 ? 'block' : 'allow',
          }),
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
  it('imports a list through the helper in chunks of one session, reporting progress and what was skipped', async () => {
    const api = createFakeApi();
    installBridge(api);
    const lines = [
      '# my list',
      '0.0.0.0 localhost',
      'not a host!',
      ...Array.from({ length: 30_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`),
      '10.0.0.1',
    ];
    const text = lines.join('\n');
    const seen: number[] = [];
    const stop = useRules.subscribe((state) => state.importing && seen.push(state.importing.sent));
    await useRules.getState().importList('blocklist.txt', text);
    stop();
    const importing = useRules.getState().importing!;
    expect(importing).toMatchObject({ total: text.length, sent: text.length, phase: 'done', error: null });
    expect(importing.summary).toMatchObject({ added: 30_000, alreadyPresent: 1, skippedCount: 2 });
    expect(importing.summary!.skipped.map((skip) => skip.line)).toEqual([2, 3]);
    const chunks = api.calls.filter((call) => call.name === 'importChunk');
    expect(chunks.length).toBe(Math.ceil(text.length / IMPORT_CHUNK_CHARS));
    expect(api.calls.filter((call) => call.name === 'importCommit')).toHaveLength(1);
    expect(Math.max(...seen)).toBe(text.length);
    expect(seen.some((sent) => sent > 0 && sent < text.length)).toBe(true);
  });

  it('exports rules and lists as JSON that names every rule field and each list with its entries', async () => {
    const api = createFakeApi();
    installBridge(api);
    await useRules.getState().add({ action: 'block', remote: '203.0.113.0/24' });
    await useRules.getState().add({ action: 'allow', remote: 'example.org', port: '443' });
    await useRules.getState().importList('ads.txt', '||ads.example^\n198.51.100.7\n');
    const document = JSON.parse((await useRules.getState().exportList('json'))!);
    expect(document.rules).toEqual([
      {
        action: 'block',
        app: null,
        remote: '203.0.113.0/24',
        port: null,
        protocol: 'any',
        direction: 'both',
        expiresAt: null,
        note: '',
        enabled: true,
      },
      {
        action: 'allow',
        app: null,
        remote: 'example.org',
        port: '443',
        protocol: 'any',
        direction: 'both',
        expiresAt: null,
        note: '',
        enabled: true,
      },
    ]);
    expect(document.lists).toEqual([
      expect.objectContaining({ name: 'ads.txt', action: 'block', entries: ['*.ads.example', '198.51.100.7'] }),
    ]);
    const cidr = (await useRules.getState().exportList('cidr'))!;
    expect(cidr.split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([
      '203.0.113.0/24',
      '198.51.100.7',
    ]);
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
