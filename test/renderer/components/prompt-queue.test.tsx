import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import type { Prompt } from '../../../main/contract/prompts';
import { installBridge } from '../../../renderer/bridge';
import { createFakeApi, status } from '../../support/renderer/fake-api';
import { App } from '../../../renderer/components/App';
import { usePrompts } from '../../../renderer/stores/prompts-store';
import { useUi } from '../../../renderer/stores/ui-store';

const prompt = (id: number, appName: string, hosts: Array<[string, string | null]>): Prompt => ({
  id,
  appId: id,
  appName,
  exe: `/usr/bin/${appName.toLowerCase()}`,
  pids: [100 + id],
  askedAt: Date.now(),
  deadline: Date.now() + 30_000,
  hosts: hosts.map(([remoteAddr, remoteName]) => ({
    remoteAddr,
    remoteName,
    ports: [443],
    protocols: ['tcp'],
    held: 1,
  })),
});

function askingApi() {
  const api = createFakeApi();
  api.helper = { state: 'connected', status: status({ defaultAction: 'ask', pendingPrompts: 1 }) };
  api.prompts = [
    prompt(1, 'Firefox', [
      ['93.184.216.34', 'example.com'],
      ['198.51.100.7', null],
    ]),
  ];
  installBridge(api);
  usePrompts.setState({ prompts: [], answering: new Set() });
  useUi.setState({ tab: 'connections' });
  return api;
}

describe('the questions queue', () => {
  it('shows questions asked before the window opened, with a badge, and answers one host once', async () => {
    const api = askingApi();
    render(<App />);
    await waitFor(() => expect(screen.getByTestId('prompt-badge').textContent).toBe('1'));
    fireEvent.click(screen.getByRole('tab', { name: /Questions/ }));
    const card = await screen.findByTestId('prompt-card');
    expect(within(card).getByText('Firefox')).toBeTruthy();
    expect(within(card).getByText('example.com')).toBeTruthy();
    expect(within(card).getByText('198.51.100.7')).toBeTruthy();
    fireEvent.click(within(card).getByRole('button', { name: 'Allow example.com' }));
    await waitFor(() => expect(api.calls.some((call) => call.name === 'answerPrompt')).toBe(true));
    expect(api.calls.find((call) => call.name === 'answerPrompt')!.request).toEqual({
      id: 1,
      action: 'allow',
      scope: 'host',
      lifetime: 'once',
      host: '93.184.216.34',
    });
    await waitFor(() => expect(screen.queryByText('example.com')).toBeNull());
    expect(screen.getByText('198.51.100.7')).toBeTruthy();
  });

  it('remembers an answer for 15 minutes for its domain, and follows the helper and the tray', async () => {
    const api = askingApi();
    render(<App />);
    fireEvent.click(screen.getByRole('tab', { name: /Questions/ }));
    const card = await screen.findByTestId('prompt-card');
    fireEvent.change(within(card).getByLabelText('How long'), { target: { value: '15m' } });
    fireEvent.change(within(card).getByLabelText('For what'), { target: { value: 'domain' } });
    fireEvent.click(within(card).getByRole('button', { name: 'Allow all' }));
    await waitFor(() => expect(screen.queryByTestId('prompt-card')).toBeNull());
    expect(api.calls.find((call) => call.name === 'answerPrompt')!.request).toEqual({
      id: 1,
      action: 'allow',
      scope: 'domain',
      for: '15m',
    });
    // A question arriving from the helper, and the tray's "Review pending…".
    fireEvent.click(screen.getByRole('tab', { name: /Connections/ }));
    api.emit('prompts', { prompts: [prompt(2, 'curl', [['203.0.113.9', null]])] });
    await waitFor(() => expect(screen.getByTestId('prompt-badge').textContent).toBe('1'));
    api.emit('reviewPrompts', { promptId: null });
    expect(await screen.findByText('curl')).toBeTruthy();
    expect(screen.getByRole('tab', { name: /Questions/ }).getAttribute('aria-selected')).toBe('true');
  });

  it('changes the mode', async () => {
    const api = askingApi();
    render(<App />);
    fireEvent.click(screen.getByRole('tab', { name: /Questions/ }));
    const select = await screen.findByLabelText('When no rule decides');
    await waitFor(() => expect((select as HTMLSelectElement).value).toBe('ask'));
    fireEvent.change(select, { target: { value: 'allowlist' } });
    await waitFor(() =>
      expect(api.calls.find((call) => call.name === 'updateSettings')?.request).toEqual({
        patch: { defaultAction: 'block' },
      }),
    );
  });
});
