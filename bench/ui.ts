// UI performance in Debian's Chromium through the browser shell, with 100k connection rows:
//   - first rows after open: the app document's own request starting (after the sign-in redirect,
//     as when the desktop window loads the page) → the frame with its first connection row painted,
//     read in the page; with where that time went (document loaded, script ran, first page arrived)
//   - first rows: sign-in → the first page of the history painted (its first row in view)
//   - load: sign-in → the list painted with every row counted (all pages arrived)
//   - filter: a keystroke in the search box → the filtered result painted (median and worst)
//   - memory: the page's JS heap and DOM node count with 100k rows loaded
//   - streaming: frame times while 5k events/s arrive, against the same page idle (ratio)
// The backend is synthetic on purpose: it answers instantly, so the figures are the renderer's own.
// Usage: node --import tsx bench/ui.ts [--rows N] [--rate EVENTS_PER_S] [--seconds S] [--json PATH]
// BENCH_SMOKE=1 runs tiny sizes. Prints a JSON object with the figures.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import type { ConnectionEvent } from '../main/contract/index.js';
import { startShellServer } from '../main/shell/shell-server.js';
import { buildRenderer, signInFromLaunchPage } from '../test/e2e/browser-support.js';
import { buildRows } from '../renderer/model/connection-rows.js';
import { putFlow, type AppGroup } from '../renderer/model/flow-groups.js';
import { appsFor, syntheticBackend, syntheticFlows } from './lib/synthetic-ui-backend.js';

const smoke = process.env.BENCH_SMOKE === '1';
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    json: { type: 'string' },
    // Stop after the load figures (for runs that study the first paint only).
    'load-only': { type: 'boolean' },
  },
});
const ROWS = Number(args.rows ?? (smoke ? 2000 : 100_000));
const RATE = Number(args.rate ?? (smoke ? 500 : 5000));
const SECONDS = Number(args.seconds ?? (smoke ? 1 : 5));
const APPS = appsFor(ROWS);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const round = (value: number) => Math.round(value * 10) / 10;

/**
 * The filter's own cost, in CPU time of this process (what other processes on a busy machine do not
 * change): the same keystrokes through the renderer's buildRows over the same flows.
 */
function filterCpuMs(queries: string[]): { median: number; p90: number } {
  const { apps, flows } = syntheticFlows(ROWS);
  const appMap = new Map(apps.map((app) => [app.id, app]));
  const groups = new Map<number, AppGroup>();
  for (const flow of flows) putFlow(groups, flow);
  const times: number[] = [];
  for (const round of [0, 1]) {
    for (const text of queries) {
      const before = process.cpuUsage();
      buildRows(appMap, groups, { text, verdict: 'all', appId: null }, 'recent', new Set());
      const used = process.cpuUsage(before);
      if (round === 1) times.push((used.user + used.system) / 1000); // the first round warms the JIT
    }
  }
  return { median: round(percentile(times, 50)), p90: round(percentile(times, 90)) };
}

const loadAverage = () => Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);

/**
 * Runs in every document before its scripts: notes when the first connection row is in the DOM and
 * when the frame holding it has painted (a task queued from that frame's animation callback runs
 * after its paint). Times are performance.now(), from the document's navigation start.
 */
function recordFirstRowsPaint(): void {
  const marks = globalThis as unknown as { __firstRowInDom?: number; __firstRowPainted?: number };
  const observer = new MutationObserver(() => {
    if (!document.querySelector('.virtual-row')) return;
    observer.disconnect();
    marks.__firstRowInDom = performance.now();
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => (marks.__firstRowPainted = performance.now());
      channel.port2.postMessage(null);
    });
  });
  observer.observe(document, { childList: true, subtree: true });
}

/**
 * The goal's figure: from the app document's own request (fetchStart; the sign-in redirect before it
 * belongs to signing in) to the first row painted, and the steps on the way, all in the page's clock.
 */
async function readFirstRowsAfterOpen(page: import('playwright-core').Page) {
  return page.evaluate(() => {
    const marks = globalThis as unknown as { __firstRowInDom: number; __firstRowPainted: number };
    const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming;
    const from = nav.fetchStart;
    const at = (name: string) => {
      const entry = performance.getEntriesByName(name)[0];
      return entry ? Math.round(entry.startTime - from) : null;
    };
    const scripts = performance
      .getEntriesByType('resource')
      .filter((entry) => entry.name.endsWith('.js')) as PerformanceResourceTiming[];
    return {
      firstRowPainted: Math.round(marks.__firstRowPainted - from),
      signInRedirect: Math.round(nav.fetchStart - nav.startTime),
      // Where the time went, each from the same start:
      steps: {
        documentLoaded: Math.round(nav.responseEnd - from),
        scriptLoaded: scripts.length ? Math.round(Math.max(...scripts.map((entry) => entry.responseEnd)) - from) : null,
        domContentLoaded: Math.round(nav.domContentLoadedEventEnd - from),
        // The renderer's own marks, where it sets them:
        ...Object.fromEntries(performance.getEntriesByType('mark').map((mark) => [mark.name, at(mark.name)])),
        firstRowInDom: Math.round(marks.__firstRowInDom - from),
      },
    };
  });
}

async function main(): Promise<void> {
  const backend = syntheticBackend(ROWS);
  const shell = await startShellServer({ backend, rendererDir: buildRenderer(), log: () => undefined });
  const profile = mkdtempSync(join(tmpdir(), 'portcullis-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    // tsx compiles with esbuild's keepNames, which wraps named functions in __name(); functions sent to
    // the page need that helper there too.
    await context.addInitScript('globalThis.__name = (fn) => fn;');
    await context.addInitScript(recordFirstRowsPaint);
    const page = context.pages()[0] ?? (await context.newPage());
    const countText = `${ROWS.toLocaleString('en-US')} connections`;
    const loadStart = Date.now();
    await signInFromLaunchPage(page, shell);
    // Waited for in the page's own terms first: Playwright's locators inject a script of their own
    // into the page, whose evaluation would land on the main thread while the first rows are on their way.
    await page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          const check = () =>
            (globalThis as { __firstRowPainted?: number }).__firstRowPainted ? resolve() : setTimeout(check, 50);
          check();
        }),
    );
    await page.locator('.virtual-row').first().waitFor({ timeout: 120_000 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
    const firstRowsMs = Date.now() - loadStart;
    const opened = await readFirstRowsAfterOpen(page);
    await page.getByTestId('connection-counts').filter({ hasText: countText }).waitFor({ timeout: 120_000 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
    const loadMs = Date.now() - loadStart;
    if (args['load-only']) {
      const result = {
        rows: ROWS,
        firstRowsAfterOpenMs: opened,
        firstRowsToPaintMs: firstRowsMs,
        loadToPaintMs: loadMs,
        loadAverage: loadAverage(),
      };
      console.log(JSON.stringify(result, null, 2));
      if (args.json) writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
      return;
    }

    // Filter keystrokes: input event → rows for that query committed → the frame after, painted.
    // Typed one key at a time, as people do, with a clear in between (each query differs from the last).
    const typed = (text: string) => Array.from({ length: text.length }, (_, i) => text.slice(0, i + 1));
    const queries = [...typed('host-12'), '', ...typed('10.1.2'), '', '444', '', ...typed('app-001'), ''];
    const filterMs: number[] = [];
    const commitMs: number[] = [];
    for (const query of queries) {
      const [painted, committed] = await page.evaluate(
        (text) =>
          new Promise<[number, number]>((resolve) => {
            const input = document.querySelector('input[aria-label="Search connections"]') as HTMLInputElement;
            const view = document.querySelector('section[data-query]')!;
            const start = performance.now();
            let committed = Number.NaN;
            const done = () =>
              requestAnimationFrame(() => requestAnimationFrame(() => resolve([performance.now() - start, committed])));
            const observer = new MutationObserver(() => {
              if (view.getAttribute('data-query') !== text) return;
              observer.disconnect();
              committed = performance.now() - start;
              done();
            });
            observer.observe(view, { attributes: true, attributeFilter: ['data-query'] });
            Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')!.set!.call(input, text);
            input.dispatchEvent(new Event('input', { bubbles: true }));
          }),
        query,
      );
      filterMs.push(painted);
      commitMs.push(committed);
    }

    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    await cdp.send('HeapProfiler.collectGarbage');
    const metrics = Object.fromEntries(
      (await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]),
    );

    // Frame times idle, then while events stream at RATE per second (batches every 20 ms).
    const measureFrames = (ms: number) =>
      page.evaluate(
        (duration) =>
          new Promise<number[]>((resolve) => {
            const frames: number[] = [];
            let last = performance.now();
            const end = last + duration;
            const tick = (now: number) => {
              frames.push(now - last);
              last = now;
              if (now < end) requestAnimationFrame(tick);
              else resolve(frames);
            };
            requestAnimationFrame(tick);
          }),
        ms,
      );
    const idle = await measureFrames(SECONDS * 1000);
    // UI_BENCH_PROFILE=1: a CPU profile of the page while streaming, summarised by self time.
    const profiling = process.env.UI_BENCH_PROFILE === '1';
    if (profiling) {
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.start');
    }
    let sent = 0;
    const perBatch = Math.max(1, Math.round(RATE / 50));
    const timer = setInterval(() => {
      const now = Date.now();
      const events: ConnectionEvent[] = Array.from({ length: perBatch }, (_, k) => {
        const i = (sent + k) % ROWS;
        return {
          time: now,
          appId: (i % APPS) + 1,
          pid: 1000 + (i % 50),
          uid: 1000,
          comm: `app-${i % APPS}`,
          remoteAddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          remoteName: null,
          remotePort: 443 + (i % 7),
          localPort: 30000 + (k % 1000),
          protocol: 'tcp',
          direction: 'out',
          verdict: k % 9 === 0 ? 'block' : 'allow',
          ruleId: null,
        };
      });
      sent += perBatch;
      backend.emit('events', { events, dropped: 0 });
    }, 20);
    const streaming = await measureFrames(SECONDS * 1000);
    clearInterval(timer);
    const elapsedEvents = sent;
    if (profiling) {
      const { profile } = await cdp.send('Profiler.stop');
      const self = new Map<string, number>();
      const byId = new Map(profile.nodes.map((node) => [node.id, node]));
      const deltas = profile.timeDeltas ?? [];
      (profile.samples ?? []).forEach((id, index) => {
        const frame = byId.get(id)!.callFrame;
        const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop()}:${frame.lineNumber}:${frame.columnNumber}`;
        self.set(key, (self.get(key) ?? 0) + (deltas[index] ?? 0) / 1000);
      });
      console.error(
        [...self]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 25)
          .map(([key, ms]) => `${ms.toFixed(0).padStart(7)} ms  ${key}`)
          .join('\n'),
      );
    }

    const fps = (frames: number[]) => 1000 / (frames.reduce((a, b) => a + b, 0) / frames.length);
    const result = {
      rows: ROWS,
      apps: APPS,
      eventRate: RATE,
      seconds: SECONDS,
      firstRowsAfterOpenMs: opened,
      firstRowsToPaintMs: firstRowsMs,
      loadToPaintMs: loadMs,
      // Keystroke → DOM updated (JS: filter + React), and → the frame after it painted.
      filterCpuMs: filterCpuMs(queries),
      filterToCommitMs: { median: round(percentile(commitMs, 50)), p90: round(percentile(commitMs, 90)) },
      filterToPaintMs: {
        median: round(percentile(filterMs, 50)),
        p90: round(percentile(filterMs, 90)),
        max: round(Math.max(...filterMs)),
        keystrokes: filterMs.length,
      },
      loadAverage: loadAverage(),
      jsHeapMB: round((metrics.JSHeapUsedSize ?? 0) / 1048576),
      domNodes: metrics.Nodes,
      idle: { fps: round(fps(idle)), p95FrameMs: round(percentile(idle, 95)) },
      streaming: {
        eventsSent: elapsedEvents,
        fps: round(fps(streaming)),
        p95FrameMs: round(percentile(streaming, 95)),
        worstFrameMs: round(Math.max(...streaming)),
      },
      streamingToIdleFrameRatio: round((percentile(streaming, 95) / percentile(idle, 95)) * 100) / 100,
    };
    const json = JSON.stringify(result, null, 2);
    console.log(json);
    if (args.json) writeFileSync(args.json, `${json}\n`);
  } finally {
    await context.close();
    await shell.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
