import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { installBridge } from '../../../renderer/bridge';
import { app, connectionEvent, createFakeApi, flow, status } from '../../support/renderer/fake-api';
import { App } from '../../../renderer/components/App';
import { RuleForm } from '../../../renderer/components/RuleForm';
import { FIRST_PAGE, FLUSH_MS, PAGE, useConnections } from '../../../renderer/stores/connections-store';
import { useNotices } from '../../../renderer/stores/notices-store';
import type { HelperState, IpcResult } from '../../../main/contract/ipc';
import { useRules } from '../../../renderer/stores/rules-store';

function connectedApi() {
  const api = createFakeApi();
  api.apps = [app(1, 'Firefox'), app(2, 'curl', { exe: '/usr/bin/curl' })];
  api.flows = [
    flow(1, '93.184.216.34', { remoteName: 'example.com', lastSeen: Date.now() - 1000 }),
    flow(2, '127.0.0.1', { remotePort: 8080, lastSeen: Date.now() }),
  ];
  installBridge(api);
  return api;
}

describe('App', () => {
  it('lists connections grouped by app, expands to remotes, and blocks a host for one app in one click', async () => {
    const api = connectedApi();
    render(<App />);
    const curl = await screen.findByText('curl', { selector: '.app-name' });
    expect(screen.getByText('Firefox', { selector: '.app-name' })).toBeTruthy();
    expect(screen.queryByText('127.0.0.1')).toBeNull(); // collapsed
    fireEvent.click(curl);
    const row = (await screen.findByText('127.0.0.1')).closest('[role=row]') as HTMLElement;
    expect(within(row).getByText('8080')).toBeTruthy();
    fireEvent.click(within(row).getByRole('button', { name: 'Block for app' }));
    await waitFor(() => expect(api.rules).toHaveLength(1));
    expect(api.rules[0]).toMatchObject({ action: 'block', appId: 2, remote: { kind: 'address', text: '127.0.0.1' } });
    expect(screen.getByTestId('helper-state').textContent).toBe('Helper connected');
    expect(screen.getByTestId('rule-count').textContent).toBe('1 rules');
    // Every feature in its full form: the status bar names only the kernel, the tooltip lists them all.
    const kernel = screen.getByTestId('kernel-summary');
    expect(kernel.textContent).toBe('Linux 6.18.0');
    expect(kernel.getAttribute('title')).toContain('Cached fast path: per-socket entries — ');
  });

  it('filters by search text and shows live events', async () => {
    const api = connectedApi();
    render(<App />);
    await screen.findByText('curl', { selector: '.app-name' });
    fireEvent.change(screen.getByLabelText('Search connections'), { target: { value: 'example' } });
    expect(await screen.findByText('example.com')).toBeTruthy();
    expect(screen.queryByText('curl', { selector: '.app-name' })).toBeNull();
    fireEvent.change(screen.getByLabelText('Search connections'), { target: { value: '' } });
    api.emit('events', {
      events: [connectionEvent(2, '198.51.100.9', { remotePort: 22, verdict: 'block', ruleId: 3 })],
      dropped: 2,
    });
    fireEvent.change(screen.getByLabelText('Search connections'), { target: { value: '198.51' } });
    const row = (await screen.findByText('198.51.100.9')).closest('[role=row]') as HTMLElement;
    expect(within(row).getByText('Blocked')).toBeTruthy();
    await waitFor(() => expect(screen.getByText('2 events dropped')).toBeTruthy());
  });

  it('loads a long history in pages: the first page shows before the rest arrives, then filters find the whole set', async () => {
    const api = createFakeApi();
    api.apps = [app(1, 'Firefox'), app(2, 'curl', { exe: '/usr/bin/curl' })];
    const total = FIRST_PAGE + PAGE + 7;
    const now = Date.now();
    // Most recent first: flow i was last seen i ms ago; the oldest one is the one searched for below.
    api.flows = Array.from({ length: total }, (_, i) =>
      flow(i === total - 1 ? 2 : 1, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, {
        lastSeen: now - i,
        remoteName: i === total - 1 ? 'oldest.example' : null,
      }),
    );
    let release = () => {};
    api.laterPages = new Promise<void>((resolve) => (release = resolve));
    installBridge(api);
    render(<App />);
    await waitFor(() =>
      expect(screen.getByTestId('connection-counts').textContent).toBe(
        `1 apps · ${FIRST_PAGE.toLocaleString('en-US')} connections`,
      ),
    );
    expect(screen.getByTestId('history-progress').textContent).toBe(
      `loading history: ${FIRST_PAGE.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`,
    );
    const pages = () => api.calls.filter((call) => call.name === 'listConnectionsPage');
    await waitFor(() => expect(pages()).toHaveLength(2)); // the first, and the second waiting for release
    expect(pages()[0]!.request).toMatchObject({ pageSize: FIRST_PAGE });
    release();
    await waitFor(() =>
      expect(screen.getByTestId('connection-counts').textContent).toBe(
        `2 apps · ${total.toLocaleString('en-US')} connections`,
      ),
    );
    expect(pages()).toHaveLength(3);
    expect(pages()[2]!.request).toMatchObject({ cursor: String(FIRST_PAGE + PAGE), pageSize: PAGE });
    expect(screen.queryByTestId('history-progress')).toBeNull();
    fireEvent.change(screen.getByLabelText('Search connections'), { target: { value: 'oldest' } });
    expect(await screen.findByText('oldest.example')).toBeTruthy();
  });

  it('shows the first rows from what the renderer asked for at start, before the helper state answers', async () => {
    const api = connectedApi();
    let answer: (state: IpcResult<HelperState>) => void = () => {};
    api.getHelperState = () => new Promise((resolve) => (answer = resolve));
    useConnections.getState().prefetch();
    render(<App />);
    expect(await screen.findByText('curl', { selector: '.app-name' })).toBeTruthy();
    expect(screen.getByTestId('helper-state').textContent).not.toBe('Helper connected');
    answer({ ok: true, value: { state: 'connected', status: status() } });
    await waitFor(() => expect(screen.getByTestId('helper-state').textContent).toBe('Helper connected'));
    // The connection list started from those answers: asked once, and live events counted once.
    const asked = (name: string) => api.calls.filter((call) => call.name === name).length;
    expect([asked('listApps'), asked('listConnectionsPage')]).toEqual([1, 1]);
    api.emit('events', {
      events: [connectionEvent(2, '127.0.0.1', { remotePort: 8080 })],
      dropped: 0,
    });
    await waitFor(() => expect(useConnections.getState().groups.get(2)!.allowed).toBe(2));
    await new Promise((resolve) => setTimeout(resolve, 3 * FLUSH_MS));
    expect(useConnections.getState().groups.get(2)!.allowed).toBe(2);
  });

  it('asks for the connections again once the helper is there when the early answers failed, quietly', async () => {
    const api = connectedApi();
    api.helper = { state: 'not-running', message: 'nothing answers at /run/portcullis/helper.sock' };
    const pageFromHelper = api.listConnectionsPage;
    let running = false;
    let asked = 0;
    api.listConnectionsPage = (request) =>
      ++asked && running
        ? pageFromHelper(request)
        : Promise.resolve({ ok: false, error: { kind: 'unavailable', message: 'the helper is not running' } });
    useConnections.getState().prefetch();
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('helper-state').textContent).not.toBe('Helper connected'));
    await waitFor(() => expect(useConnections.getState().loading).toBe(false));
    expect(screen.queryByText('curl', { selector: '.app-name' })).toBeNull();
    expect(useNotices.getState().notices).toEqual([]); // the banner says why; no notice about connections
    running = true;
    api.emit('helperState', { state: 'connected', status: status() });
    expect(await screen.findByText('curl', { selector: '.app-name' })).toBeTruthy();
    expect(asked).toBe(2); // at start, and again once the helper was there
  });

  it('runs the first-run wizard: checks with fixes, a cancelled polkit start, then the mode', async () => {
    const api = createFakeApi();
    api.helper = { state: 'not-running', message: 'nothing answers at /run/portcullis/helper.sock' };
    api.wizard = { completed: false, mode: null };
    api.checks = [
      { id: 'kernel', label: 'Linux kernel', ok: true, detail: '6.18', fix: null },
      {
        id: 'btf',
        label: 'Kernel type information (BTF)',
        ok: false,
        detail: '/sys/kernel/btf/vmlinux is missing',
        fix: 'use a kernel built with CONFIG_DEBUG_INFO_BTF',
      },
    ];
    api.startOutcome = { state: 'cancelled', message: 'authentication was cancelled' };
    installBridge(api);
    render(<App />);
    expect(await screen.findByText('Kernel type information (BTF)')).toBeTruthy();
    expect(screen.getByText('use a kernel built with CONFIG_DEBUG_INFO_BTF')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    expect((screen.getByRole('button', { name: 'Continue' }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole('button', { name: 'Start helper' }));
    expect(await screen.findByText(/You closed the password dialog/)).toBeTruthy();
    // Debian 12's 6.1: the fast path runs in its older form, and the wizard says so once the helper runs.
    const onOlderKernel = status();
    onOlderKernel.kernel.kernelRelease = '6.1.0-57-amd64';
    onOlderKernel.kernel.features[1] = {
      ...onOlderKernel.kernel.features[1]!,
      reduced: true,
      form: 'socket storage',
      why: 'the kernel-context cast (bpf_cast_to_kern_ctx) arrived in Linux 6.2: every packet makes one socket-storage lookup before its cached verdict',
    };
    api.startOutcome = { state: 'connected', status: onOlderKernel };
    fireEvent.click(screen.getByRole('button', { name: 'Start helper' }));
    await screen.findByText(/The helper is running/);
    const fastPath = screen.getByText('Cached fast path').closest('[data-feature]') as HTMLElement;
    expect(fastPath.dataset.feature).toBe('fast-path');
    expect(fastPath.textContent).toContain('socket storage');
    expect(fastPath.textContent).toContain('arrived in Linux 6.2');
    expect(within(fastPath).getByLabelText('older form')).toBeTruthy();
    const verdicts = screen.getByText('Connection verdicts').closest('[data-feature]') as HTMLElement;
    expect(within(verdicts).getByLabelText('full form')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
    fireEvent.click(screen.getByLabelText(/Allow-list/));
    fireEvent.click(screen.getByRole('button', { name: 'Finish' }));
    await waitFor(() => expect(screen.queryByRole('dialog', { name: 'Set up Portcullis' })).toBeNull());
    expect(api.wizard).toEqual({ completed: true, mode: 'allow-list' });
  });
});

describe('RuleForm', () => {
  it('validates inline with the contract and saves only a valid rule', async () => {
    const api = createFakeApi();
    installBridge(api);
    render(<RuleForm editing={{ mode: 'new', draft: { action: 'block' } }} />);
    const save = screen.getByRole('button', { name: 'Add rule' }) as HTMLButtonElement;
    fireEvent.change(screen.getByPlaceholderText(/203.0.113.7/), { target: { value: '10.0.0.0/33' } });
    expect(screen.getByRole('alert').textContent).toMatch(/prefix|33/);
    expect(save.disabled).toBe(true);
    fireEvent.change(screen.getByPlaceholderText(/203.0.113.7/), { target: { value: '10.0.0.0/8' } });
    fireEvent.change(screen.getByPlaceholderText(/8000-8100/), { target: { value: '9000-80' } });
    expect(screen.getByRole('alert').textContent).toMatch(/runs backwards/);
    fireEvent.change(screen.getByPlaceholderText(/8000-8100/), { target: { value: '443' } });
    expect(screen.queryByRole('alert')).toBeNull();
    fireEvent.click(save);
    await waitFor(() => expect(api.rules).toHaveLength(1));
    expect(api.rules[0]).toMatchObject({ remote: { text: '10.0.0.0/8' }, ports: { from: 443, to: 443 } });
  });
});

describe('Needs an administrator', () => {
  it('says so when a loosening is refused, and Try again sends it again', async () => {
    const api = connectedApi();
    render(<App />);
    await screen.findByText('curl', { selector: '.app-name' });
    await useRules.getState().add({ action: 'block', remote: '198.51.100.7' });
    fireEvent.click(screen.getByRole('tab', { name: /Rules/ }));
    const remove = await screen.findByLabelText('Remove rule 198.51.100.7');
    expect(remove.getAttribute('title')).toBe('Needs an administrator');
    api.refusals.push({
      name: 'removeRules',
      message:
        'Removing block rule 1 (block 198.51.100.7) needs an administrator: the authentication dialog was dismissed',
    });
    fireEvent.click(remove);
    expect(
      await screen.findByText(
        /Removing block rule 1 \(block 198\.51\.100\.7\) needs an administrator: the authentication dialog was dismissed/,
      ),
    ).toBeTruthy();
    expect(api.rules).toHaveLength(1);
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(api.rules).toHaveLength(0));
    expect(screen.queryByText(/needs an administrator/)).toBeNull();
    expect(api.calls.filter((call) => call.name === 'removeRules')).toHaveLength(2);
  });

  it('tells beforehand that pausing and an allow rule need one; closing the refusal gives up', async () => {
    const api = connectedApi();
    render(<App />);
    fireEvent.click(await screen.findByRole('button', { name: /Pause/ }));
    expect(screen.getByRole('note').textContent).toMatch(/needs an administrator/);
    api.refusals.push({
      name: 'setEnforcement',
      message: 'Pausing enforcement for 15 min needs an administrator: no administrator answered within 120 s',
    });
    fireEvent.click(screen.getByRole('menuitem', { name: 'Pause for 15 minutes' }));
    expect(await screen.findByText(/Pausing enforcement for 15 min needs an administrator/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Dismiss' }));
    await waitFor(() => expect(screen.queryByText(/Pausing enforcement/)).toBeNull());
    expect(api.calls.filter((call) => call.name === 'setEnforcement')).toHaveLength(1);
    expect(screen.getByText('Enforcing')).toBeTruthy();
  });
});

describe('RuleForm needs', () => {
  it('says an allow rule needs an administrator, a block rule none', () => {
    installBridge(createFakeApi());
    render(<RuleForm editing={{ mode: 'new', draft: { action: 'block', remote: '192.0.2.1' } }} />);
    expect(screen.queryByRole('note')).toBeNull();
    fireEvent.change(screen.getByDisplayValue('Block'), { target: { value: 'allow' } });
    expect(screen.getByRole('note').textContent).toBe(
      'Needs an administrator: adding an allow rule (allow 192.0.2.1). You will be asked to authenticate.',
    );
  });
});

describe('RulesView', () => {
  it('disables and removes rules, and imports a list with a progress bar and skipped lines', async () => {
    const api = connectedApi();
    render(<App />);
    await screen.findByText('curl', { selector: '.app-name' });
    await useRules.getState().add({ action: 'block', remote: '198.51.100.0/24', note: 'test net' });
    fireEvent.click(screen.getByRole('tab', { name: /Rules/ }));
    const toggle = await screen.findByLabelText('Disable rule 198.51.100.0/24');
    fireEvent.click(toggle);
    await waitFor(() => expect(api.rules[0]!.enabled).toBe(false));
    fireEvent.click(screen.getByRole('button', { name: 'Import list…' }));
    fireEvent.change(screen.getByLabelText('List text'), {
      target: { value: '0.0.0.0 ads.example\n0.0.0.0 localhost\n203.0.113.5\nbad host name\n' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Import' }));
    await screen.findByText(/Imported from pasted list: 2 added, 0 already present, 2 skipped/);
    expect(screen.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
    expect(screen.getByText(/names this machine itself/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Close' }));
    // The entries are a list of their own, apart from the rules.
    expect(api.lists.map((list) => [list.name, list.entries])).toEqual([
      ['pasted list', ['ads.example', '203.0.113.5']],
    ]);
    fireEvent.click(await screen.findByLabelText('Remove rule 198.51.100.0/24'));
    await waitFor(() => expect(api.rules).toEqual([]));
    expect(useConnections.getState().flowCount).toBe(2);
  });
});

describe('RulesView managed rules', () => {
  it('shows a policy file’s rule read-only, naming the file', async () => {
    const api = connectedApi();
    const now = Date.now();
    api.rules.push({
      id: 77,
      action: 'block',
      appId: null,
      remote: { kind: 'domain', name: 'tracker.example', subdomains: false },
      ports: null,
      protocol: 'any',
      direction: 'out',
      expiresAt: null,
      note: 'corporate policy',
      enabled: true,
      createdAt: now,
      updatedAt: now,
      hits: 0,
      managedBy: '/etc/portcullis/policy.d/10-corp.json',
    });
    render(<App />);
    await screen.findByText('curl', { selector: '.app-name' });
    fireEvent.click(screen.getByRole('tab', { name: /Rules/ }));
    const remove = (await screen.findByLabelText('Remove rule tracker.example')) as HTMLButtonElement;
    expect(remove.disabled).toBe(true);
    expect(remove.title).toBe('Managed by the policy file /etc/portcullis/policy.d/10-corp.json');
    expect((screen.getByLabelText('Edit rule tracker.example') as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByLabelText('Disable rule tracker.example') as HTMLInputElement).disabled).toBe(true);
  });
});

describe('ListsView', () => {
  it('subscribes by URL, shows entries, schedule and failures, toggles and removes a list whole', async () => {
    const api = connectedApi();
    api.served.set('https://lists.example/ads.txt', '0.0.0.0 ads.example\n203.0.113.9\n');
    render(<App />);
    await screen.findByText('curl', { selector: '.app-name' });
    fireEvent.click(screen.getByRole('tab', { name: /Lists/ }));
    await screen.findByText(/No lists yet/);
    fireEvent.click(screen.getByRole('button', { name: 'Subscribe to a list…' }));
    fireEvent.change(screen.getByLabelText('List URL'), { target: { value: 'https://lists.example/ads.txt' } });
    fireEvent.change(screen.getByLabelText('List name'), { target: { value: 'ads' } });
    fireEvent.click(screen.getByRole('button', { name: 'Subscribe' }));
    await screen.findByText('https://lists.example/ads.txt');
    expect(screen.getByTestId('list-count').textContent).toBe('1 lists, 2 entries');
    expect(screen.getByText(/in 24 h \(every 1d\)/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'ads' }));
    const entries = await screen.findByRole('list', { name: 'Entries of ads' });
    expect(entries.textContent).toContain('203.0.113.9');

    // A URL that fails: the list is there with the reason.
    fireEvent.click(screen.getByRole('button', { name: 'Subscribe to a list…' }));
    fireEvent.change(screen.getByLabelText('List URL'), { target: { value: 'https://lists.example/gone.txt' } });
    fireEvent.click(screen.getByRole('button', { name: 'Subscribe' }));
    await waitFor(() =>
      expect(screen.getAllByRole('alert').some((alert) => /answered 404/.test(alert.textContent ?? ''))).toBe(true),
    );

    // Disabling a block list opens the firewall: the button says so beforehand, in the helper's words.
    expect(screen.getByLabelText('Disable list ads').getAttribute('title')).toBe(
      'Needs an administrator: disabling block list "ads" (2 entries)',
    );
    fireEvent.click(screen.getByLabelText('Disable list ads'));
    await waitFor(() => expect(api.lists[0]!.enabled).toBe(false));
    fireEvent.click(await screen.findByLabelText('Enable list ads'));
    await waitFor(() => expect(api.lists[0]!.enabled).toBe(true));
    fireEvent.click(screen.getByLabelText('Remove list ads'));
    await waitFor(() => expect(api.lists.map((list) => list.name)).toEqual(['https://lists.example/gone.txt']));
  });
});
