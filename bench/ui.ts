// UI performance in Debian's Chromium through the browser shell, with 100k connection rows:
//   - load: listConnections answered → the list painted with every row counted
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
import type {
  App,
  ConnectionEvent,
  Flow,
  IpcHandlers,
  IpcNotifyName,
  PayloadOf,
  Status,
} from '../main/contract/index.js';
import type { NotifyListener } from '../main/app/ipc-backend.js';
import { startShellServer } from '../main/shell/shell-server.js';
import { buildRenderer, signInFromLaunchPage } from '../test/e2e/browser-support.js';
import { buildRows } from '../renderer/model/connection-rows.js';
import { putFlow, type AppGroup } from '../renderer/model/flow-groups.js';

const smoke = process.env.BENCH_SMOKE === '1';
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string' },
    rate: { type: 'string' },
    seconds: { type: 'string' },
    json: { type: 'string' },
  },
});
const ROWS = Number(args.rows ?? (smoke ? 2000 : 100_000));
const RATE = Number(args.rate ?? (smoke ? 500 : 5000));
const SECONDS = Number(args.seconds ?? (smoke ? 1 : 5));
const APPS = Math.max(1, Math.round(ROWS / 500));

function synthetic(): { apps: App[]; flows: Flow[] } {
  const now = Date.now();
  const apps: App[] = Array.from({ length: APPS }, (_, i) => ({
    id: i + 1,
    kind: 'executable',
    name: `app-${String(i).padStart(3, '0')}`,
    exe: `/usr/bin/app-${i}`,
    identifier: null,
    icon: null,
    cgroup: null,
    firstSeen: now - 86_400_000,
    lastSeen: now,
    defaultAction: null,
  }));
  const flows: Flow[] = Array.from({ length: ROWS }, (_, i) => ({
    appId: (i % APPS) + 1,
    remoteAddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    remoteName: i % 3 === 0 ? `host-${i}.example.net` : null,
    remotePort: 443 + (i % 7),
    protocol: i % 5 === 0 ? 'udp' : 'tcp',
    direction: 'out',
    firstSeen: now - 3_600_000,
    lastSeen: now - (i % 3600) * 1000,
    bytesOut: (i * 37) % 100_000,
    bytesIn: (i * 91) % 1_000_000,
    packetsOut: 3,
    packetsIn: 5,
    allowed: 1,
    blocked: i % 11 === 0 ? 1 : 0,
    lastVerdict: i % 11 === 0 ? 'block' : 'allow',
    lastRuleId: null,
  }));
  return { apps, flows };
}

function syntheticBackend() {
  const { apps, flows } = synthetic();
  const listeners = new Set<NotifyListener>();
  const status = {
    version: 'bench',
    protocolVersion: 1,
    pid: process.pid,
    uptimeSec: 1,
    enforcing: true,
    pausedUntil: null,
    defaultAction: 'allow',
    attach: { cgroup: '-', pinDir: '-', adopted: false },
    kernel: { kernelRelease: '-', cgroup2Mount: null, bpffsMount: null, btf: true, missing: [], features: [] },
    ruleCount: 0,
    lists: { count: 0, entries: 0 },
    appCount: APPS,
    eventsSeen: 0,
    eventDrops: 0,
    dns: { queries: 0, answersLearned: 0, answersIgnored: 0, pendingQueries: 0, domainAddresses: 0, domainApplies: 0 },
  } as Status;
  const unsupported = async () => {
    throw new Error('not in the benchmark');
  };
  const handlers: IpcHandlers = {
    getStatus: async () => status,
    listRules: async () => [],
    addRule: unsupported,
    addRules: unsupported,
    updateRule: unsupported,
    removeRules: unsupported,
    listApps: async () => apps,
    setAppDefault: unsupported,
    listConnections: async (query) => ((query as { since?: number }).since === undefined ? flows : []),
    setEnforcement: unsupported,
    getSettings: unsupported,
    updateSettings: unsupported,
    listPrompts: async () => [],
    answerPrompt: unsupported,
    importBegin: unsupported,
    importChunk: unsupported,
    importCommit: unsupported,
    importAbort: unsupported,
    listLists: async () => [],
    listEntries: unsupported,
    updateList: unsupported,
    removeList: unsupported,
    subscribeList: unsupported,
    refreshLists: unsupported,
    getHelperState: async () => ({ state: 'connected', status }),
    startHelper: async () => ({ state: 'connected', status }),
    runChecks: async () => [],
    getWizardState: async () => ({ completed: true, mode: 'monitor' }),
    completeWizard: unsupported,
  };
  const emit = <K extends IpcNotifyName>(name: K, payload: PayloadOf<K>) => {
    for (const listener of listeners) listener(name, payload);
  };
  return {
    handlers,
    subscribe: (listener: NotifyListener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit,
  };
}

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
  const { apps, flows } = synthetic();
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

async function main(): Promise<void> {
  const backend = syntheticBackend();
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
    const page = context.pages()[0] ?? (await context.newPage());
    const countText = `${ROWS.toLocaleString('en-US')} connections`;
    const loadStart = Date.now();
    await signInFromLaunchPage(page, shell);
    await page.getByTestId('connection-counts').filter({ hasText: countText }).waitFor({ timeout: 120_000 });
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
    const loadMs = Date.now() - loadStart;

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
      loadAverage: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
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
