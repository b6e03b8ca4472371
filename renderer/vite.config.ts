// The renderer build: plain esbuild JSX (react-jsx), root renderer/, output build/renderer/.
// Relative asset paths so the same build loads from file:// (Electron) and http:// (browser shell).
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: './',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: fileURLToPath(new URL('../build/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'chrome120',
    sourcemap: true,
    // PORTCULLIS_NO_MINIFY=1 keeps names readable in CPU profiles (bench/ui.ts UI_BENCH_PROFILE=1).
    minify: process.env.PORTCULLIS_NO_MINIFY !== '1',
    // No inline module-preload polyfill: the CSP forbids inline scripts.
    modulePreload: { polyfill: false },
  },
});
