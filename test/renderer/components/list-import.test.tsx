// Importing a list file when it fails as a whole: the helper gone in the middle of an import, or the
// chosen file unreadable. The dialog says why and offers Try again with the same file, without
// closing or choosing again; what the list held before stays as it was, and the retried import
// adds each entry once. Skipped lines of an import that worked are no failure: no Try again then.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { installBridge } from '../../../renderer/bridge';
import { createFakeApi, type FakeApi } from '../../support/renderer/fake-api';
import { App } from '../../../renderer/components/App';

async function openDialog(): Promise<HTMLElement> {
  fireEvent.click(screen.getByRole('button', { name: 'Import list…' }));
  return screen.findByRole('dialog', { name: 'Import a list' });
}

/** Picks a file of this text and waits until the text is in the dialog. */
async function choose(dialog: HTMLElement, name: string, text: string): Promise<void> {
  fireEvent.change(within(dialog).getByLabelText('List file'), { target: { files: [new File([text], name)] } });
  await waitFor(() => expect((within(dialog).getByLabelText('List text') as HTMLTextAreaElement).value).toBe(text));
}

const entriesOf = (api: FakeApi) => api.lists.map((list) => [list.name, list.entries]);

async function rendered(api: FakeApi): Promise<void> {
  installBridge(api);
  render(<App />);
  fireEvent.click(await screen.findByRole('tab', { name: /Rules/ }));
}

describe('Import a list that fails as a whole', () => {
  it('keeps what the list held, and imports the same file on Try again with each entry once', async () => {
    const api = createFakeApi();
    await rendered(api);

    // The list as it was before: two entries.
    let dialog = await openDialog();
    await choose(dialog, 'blocklist.hosts', '0.0.0.0 ads.example\n203.0.113.5\n');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Import' }));
    await within(dialog).findByText('Imported from blocklist.hosts: 2 added, 0 already present, 0 skipped.');
    expect(within(dialog).queryByRole('button', { name: 'Try again' })).toBeNull();
    fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));

    // The new copy goes to the helper, which is gone before it answers.
    api.refusals.push({ name: 'importChunk', kind: 'unavailable', message: 'the helper closed the connection' });
    dialog = await openDialog();
    await choose(dialog, 'blocklist.hosts', '0.0.0.0 ads.example\n203.0.113.5\n0.0.0.0 tracker.example\nnot a host\n');
    fireEvent.click(within(dialog).getByRole('button', { name: 'Import' }));
    expect((await within(dialog).findByRole('alert')).textContent).toBe(
      'The import stopped: the helper closed the connection',
    );
    expect(entriesOf(api)).toEqual([['blocklist.hosts', ['ads.example', '203.0.113.5']]]);
    expect(api.calls.filter((call) => call.name === 'importAbort')).toHaveLength(1);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Try again' }));
    await within(dialog).findByText('Imported from blocklist.hosts: 1 added, 2 already present, 1 skipped.');
    expect(within(dialog).queryByRole('alert')).toBeNull();
    expect(within(dialog).queryByRole('button', { name: 'Try again' })).toBeNull();
    // Per-line errors of the import that worked keep their place and reason.
    expect(within(dialog).getByRole('list', { name: 'Skipped lines' }).textContent).toMatch(/^line 4: not a host — /);
    expect(entriesOf(api)).toEqual([['blocklist.hosts', ['ads.example', '203.0.113.5', 'tracker.example']]]);
    // The same text both times: the file was read once, not chosen again.
    const begins = api.calls.filter((call) => call.name === 'importBegin').map((call) => call.request);
    expect(begins.slice(1)).toEqual([
      { format: 'auto', source: 'blocklist.hosts' },
      { format: 'auto', source: 'blocklist.hosts' },
    ]);
  });

  it('says when the chosen file cannot be read, and reads it again on Try again', async () => {
    const api = createFakeApi();
    await rendered(api);
    const file = new File(['0.0.0.0 ads.example\n'], 'blocklist.hosts');
    // The first read fails as a file gone unreadable does; the next reads the file itself.
    const read = file.text.bind(file);
    let reads = 0;
    Object.defineProperty(file, 'text', {
      value: () => (++reads === 1 ? Promise.reject(new Error('permission denied')) : read()),
    });
    const dialog = await openDialog();
    fireEvent.change(within(dialog).getByLabelText('List file'), { target: { files: [file] } });
    expect((await within(dialog).findByRole('alert')).textContent).toBe(
      'blocklist.hosts cannot be read: permission denied',
    );
    expect((within(dialog).getByRole('button', { name: 'Import' }) as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(within(dialog).getByRole('button', { name: 'Try again' }));
    await waitFor(() =>
      expect((within(dialog).getByLabelText('List text') as HTMLTextAreaElement).value).toBe('0.0.0.0 ads.example\n'),
    );
    expect(within(dialog).queryByRole('alert')).toBeNull();
    fireEvent.click(within(dialog).getByRole('button', { name: 'Import' }));
    await within(dialog).findByText('Imported from blocklist.hosts: 1 added, 0 already present, 0 skipped.');
    expect(entriesOf(api)).toEqual([['blocklist.hosts', ['ads.example']]]);
    expect(reads).toBe(2);
  });
});
