// Each test starts from a clean DOM, fresh stores and no bridge.
import { afterEach } from 'vitest';
import { cleanup } from '@testing-library/react';
import { installBridge } from '../../renderer/bridge';
import { useConnections } from '../../renderer/stores/connections-store';
import { useHelper } from '../../renderer/stores/helper-store';
import { useNotices } from '../../renderer/stores/notices-store';
import { useRules } from '../../renderer/stores/rules-store';
import { useUi } from '../../renderer/stores/ui-store';

// jsdom does no layout: give scroll containers a window-sized client box so virtualised lists render
// the rows a real window would.
for (const [property, size] of [
  ['clientHeight', 700],
  ['clientWidth', 1000],
] as const) {
  Object.defineProperty(HTMLElement.prototype, property, {
    configurable: true,
    get(this: HTMLElement) {
      return this.classList.contains('list-scroll') ? size : 0;
    },
  });
}

// jsdom's Blob has no text() (Chromium's and Electron's do): read it through jsdom's FileReader, so
// the renderer reads picked files with the call it uses in the browser.
if (typeof Blob.prototype.text !== 'function') {
  Blob.prototype.text = function text(this: Blob): Promise<string> {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result as string);
      reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
      reader.readAsText(this);
    });
  };
}

afterEach(() => {
  cleanup();
  installBridge(null);
  useConnections.getState().reset();
  for (const store of [useHelper, useNotices, useRules, useUi])
    (store as { setState(state: unknown, replace: true): void; getInitialState(): unknown }).setState(
      store.getInitialState(),
      true,
    );
});
