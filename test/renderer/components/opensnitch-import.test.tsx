// Importing OpenSnitch's rule files from the Rules view: the picked files' text goes to the helper as
// one bundle through the same import calls the CLI uses (the fake maps it with the contract's own
// OpenSnitch code); an oversized file is never read, only its size sent; the result names the rules
// added and every file or rule not imported with its place and reason; the same files again add nothing.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { installBridge } from '../../../renderer/bridge';
import { createFakeApi } from '../../support/renderer/fake-api';
import { App } from '../../../renderer/components/App';
import { MAX_OPENSNITCH_FILE_BYTES } from '../../../main/contract/opensnitch';
import { formatRemote } from '../../../main/contract/rules';
import { all, openSnitchRuleText, simple, type OpenSnitchOperator } from '../../support/opensnitch-rules';

/** A rule file as the person picks it. */
function ruleFile(name: string, action: string, operator: OpenSnitchOperator): File {
  return new File([openSnitchRuleText(name, action, operator)], `${name}.json`, { type: 'application/json' });
}

function pickedFiles(): File[] {
  const huge = new File(['x'.repeat(MAX_OPENSNITCH_FILE_BYTES + 1)], '020-huge.json', { type: 'application/json' });
  // An oversized file is reported by its size and never read: reading it fails this test.
  Object.defineProperty(huge, 'text', { value: () => Promise.reject(new Error('an oversized rule file was read')) });
  return [
    ruleFile(
      '000-deny-lab',
      'deny',
      all(simple('dest.ip', '127.0.0.81'), simple('dest.port', '9'), simple('protocol', 'tcp')),
    ),
    ruleFile('001-deny-host', 'reject', simple('dest.host', 'ads.example.com')),
    ruleFile('010-user', 'deny', all(simple('user.id', '1000'), simple('dest.port', '443'))),
    new File(['{\n  "name": "014-broken",\n  "action": "deny",\n  "operator": {,\n}\n'], '014-broken.json'),
    huge,
  ];
}

async function importPicked(files: File[]): Promise<HTMLElement> {
  fireEvent.click(screen.getByRole('button', { name: 'Import from OpenSnitch…' }));
  const dialog = await screen.findByRole('dialog', { name: 'Import from OpenSnitch' });
  const importButton = within(dialog).getByRole('button', { name: 'Import' }) as HTMLButtonElement;
  expect(importButton.disabled).toBe(true);
  fireEvent.change(within(dialog).getByLabelText('OpenSnitch rule files'), { target: { files } });
  expect(within(dialog).getByTestId('opensnitch-chosen').textContent).toBe(
    `5 files chosen: ${files.map((file) => file.name).join(', ')}`,
  );
  fireEvent.click(importButton);
  return dialog;
}

describe('Import from OpenSnitch', () => {
  it('imports what maps, lists each file or rule it skipped with place and reason, and adds nothing the second time', async () => {
    const api = createFakeApi();
    installBridge(api);
    render(<App />);
    fireEvent.click(await screen.findByRole('tab', { name: /Rules/ }));

    const dialog = await importPicked(pickedFiles());
    const summary = await within(dialog).findByText(
      'Imported from 5 OpenSnitch rule files: 2 rules added, 0 already present, 3 skipped.',
    );
    expect(summary.getAttribute('data-testid')).toBe('import-summary');
    const skipped = within(within(dialog).getByRole('list', { name: 'Not imported' }))
      .getAllByRole('listitem')
      .map((item) => item.textContent);
    expect(skipped).toEqual([
      '010-user.json: 010-user — user.id matches a user; Portcullis rules hold for every user of an app',
      expect.stringMatching(/^014-broken\.json:4: 014-broken\.json — not valid JSON at line 4, column 16: /),
      `020-huge.json: 020-huge.json — ${MAX_OPENSNITCH_FILE_BYTES + 1} bytes, more than the ${MAX_OPENSNITCH_FILE_BYTES} a rule file may hold (OpenSnitch writes a few hundred); not read`,
    ]);
    expect(api.rules.map((rule) => [rule.action, formatRemote(rule.remote), rule.note])).toEqual([
      ['block', '127.0.0.81', 'OpenSnitch: 000-deny-lab'],
      ['block', 'ads.example.com', 'OpenSnitch: 001-deny-host'],
    ]);
    // One bundle of file text through the import calls, in OpenSnitch's format; the huge file only by size.
    const begins = api.calls.filter((call) => call.name === 'importBegin').map((call) => call.request);
    expect(begins).toEqual([{ format: 'opensnitch', source: '5 OpenSnitch rule files' }]);
    const sent = api.calls
      .filter((call) => call.name === 'importChunk')
      .reduce((total, call) => total + (call.request as { text: string }).text.length, 0);
    expect(sent).toBeLessThan(10_000);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    await screen.findByText('2 of 2 rules');

    const again = await importPicked(pickedFiles());
    await within(again).findByText('Nothing new from 5 OpenSnitch rule files: 2 already present, 3 skipped.');
    expect(api.rules).toHaveLength(2);
  });
});

describe('Import from OpenSnitch needing an administrator', () => {
  it('says why the import stopped, stores nothing, and imports the same files on Try again', async () => {
    const api = createFakeApi();
    installBridge(api);
    api.refusals.push({ name: 'importCommit', message: 'adding an allow rule needs an administrator' });
    render(<App />);
    fireEvent.click(await screen.findByRole('tab', { name: /Rules/ }));
    const allow = ruleFile('030-allow-dns', 'allow', all(simple('dest.ip', '192.0.2.53'), simple('dest.port', '53')));
    fireEvent.click(screen.getByRole('button', { name: 'Import from OpenSnitch…' }));
    const dialog = await screen.findByRole('dialog', { name: 'Import from OpenSnitch' });
    fireEvent.change(within(dialog).getByLabelText('OpenSnitch rule files'), { target: { files: [allow] } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Import' }));
    expect((await within(dialog).findByRole('alert')).textContent).toBe(
      'The import stopped: adding an allow rule needs an administrator',
    );
    expect(api.rules).toEqual([]);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Try again' }));
    await within(dialog).findByText(
      'Imported from 1 OpenSnitch rule file: 1 rule added, 0 already present, 0 skipped.',
    );
    expect(api.rules.map((rule) => [rule.action, formatRemote(rule.remote), rule.note])).toEqual([
      ['allow', '192.0.2.53', 'OpenSnitch: 030-allow-dns'],
    ]);
    expect(within(dialog).queryByRole('button', { name: 'Try again' })).toBeNull();
  });
});
