// The C load generator (bench/loadgen.c): compiled at bench time, then driven here. One measurement
// = a fresh sink, one bounded run of the generator in the test cgroup, the sink's or generator's
// own count over its own clock.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { killAndWait, type Sandbox } from '../../test/support/sandbox.js';
import { endpoints, spawnClient, spawnInNs, type Lab, type Lane, type TrafficPath } from './lab.js';
import { hasCommand, run } from './process.js';

const SOURCE = join(__dirname, '..', 'loadgen.c');

/** Compiles the generator with the first C compiler found; returns the binary's path. */
export function buildLoadgen(outDir: string): string {
  const compiler = ['gcc', 'cc', 'clang'].find(hasCommand);
  if (!compiler) throw new Error('no C compiler (gcc, cc or clang) found: install gcc');
  const binary = join(outDir, 'loadgen');
  run(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, SOURCE]);
  return binary;
}

/** The first line of a child's output that passes `test`; rejects when it exits first or after `timeoutMs`. */
export function lineOf(child: ChildProcess, test: (line: string) => boolean, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`no expected output within ${timeoutMs} ms: ${buffer.slice(-500)}`)),
      timeoutMs,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => test(l.trim()));
      if (line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before the expected output: ${buffer.slice(-500)}`));
    });
  });
}

/**
 * TCP connect+close from the generator in `cgroup` to a fresh sink on loopback (host namespace), for
 * `durationMs` and at most `maxConnections`, paced to `perSecond` when given. Resolves once the
 * generator runs; `finished` gives its result (the sink is stopped then).
 */
export async function startLoopbackConnects(
  sandbox: Sandbox,
  binary: string,
  cgroup: string,
  load: { durationMs: number; maxConnections: number; perSecond?: number },
): Promise<{ finished: Promise<TcpConnectResult> }> {
  const port = String(30_000 + Math.floor(Math.random() * 20_000));
  const sinkSeconds = String(Math.ceil(load.durationMs / 1000) + 30);
  const sink = spawn(binary, ['tcp-sink', '127.0.0.1', port, sinkSeconds], { stdio: ['ignore', 'pipe', 'pipe'] });
  sandbox.defer(() => killAndWait(sink));
  await lineOf(sink, (l) => l === 'ready', 5000);
  const pace = load.perSecond === undefined ? [] : [String(load.perSecond)];
  const client = sandbox.spawnInCgroup(cgroup, [
    binary,
    'tcp-connect',
    '127.0.0.1',
    port,
    String(load.durationMs),
    String(load.maxConnections),
    ...pace,
  ]);
  const finished = lineOf(client, (l) => l.startsWith('{'), load.durationMs + 30_000).then(async (line) => {
    await killAndWait(sink);
    return JSON.parse(line) as TcpConnectResult;
  });
  return { finished };
}

export interface TcpConnectResult {
  ok: number;
  failed: number;
  firstErrno: number;
  elapsedNs: number;
}
export interface UdpSendResult {
  sent: number;
  failed: number;
  firstErrno: number;
  elapsedNs: number;
}
export interface UdpSinkResult {
  received: number;
  firstNs: number;
  lastNs: number;
}
export interface ProbeResult {
  failedAtNs: number;
  attemptStartNs?: number;
  lastOkNs?: number;
  errno?: number;
  attempts: number;
}

/** One measured rate with what it was computed from. */
export interface RateSample {
  perSecond: number;
  detail: Record<string, number>;
}

/** Every generator run is bounded both ways: by time and by count. */
export interface Bounds {
  durationMs: number;
  maxCount: number;
}

/** Whole seconds a sink may live for a run of the given length, with room to start and drain. */
function sinkSeconds(durationMs: number): string {
  return String(Math.ceil(durationMs / 1000) + 30);
}

let nextPort = 20000 + Math.floor(Math.random() * 10000);
function freshPort(): string {
  nextPort = nextPort >= 60000 ? 20000 : nextPort + 1;
  return String(nextPort);
}

export class Loadgen {
  constructor(
    private readonly sandbox: Sandbox,
    private readonly lab: Lab,
    readonly binary: string,
  ) {}

  /** TCP connect + close as fast as one client can, for one path. */
  async tcpConnectRate(lane: Lane, path: TrafficPath, bounds: Bounds): Promise<RateSample> {
    const { serverNs, serverAddr } = endpoints(this.lab, lane, path);
    const port = freshPort();
    const sink = spawnInNs(this.sandbox, serverNs, [
      this.binary,
      'tcp-sink',
      serverAddr,
      port,
      sinkSeconds(bounds.durationMs),
    ]);
    try {
      await sink.waitReady();
      const client = spawnClient(this.sandbox, lane, [
        this.binary,
        'tcp-connect',
        serverAddr,
        port,
        String(bounds.durationMs),
        String(bounds.maxCount),
      ]);
      const result = await client.result<TcpConnectResult>(bounds.durationMs + 20000);
      if (result.ok === 0) throw new Error(`no TCP connection succeeded on ${path} (first errno ${result.firstErrno})`);
      return { perSecond: result.ok / (result.elapsedNs / 1e9), detail: { ...result } };
    } finally {
      await killAndWait(sink.child);
    }
  }

  /** 64-byte (or other) UDP datagrams on one connected socket, unreplied; rate delivered to the sink. */
  async udpRate(lane: Lane, path: TrafficPath, bounds: Bounds, payloadBytes = 64): Promise<RateSample> {
    const { serverNs, serverAddr } = endpoints(this.lab, lane, path);
    const port = freshPort();
    const sink = spawnInNs(this.sandbox, serverNs, [
      this.binary,
      'udp-sink',
      serverAddr,
      port,
      sinkSeconds(bounds.durationMs),
      '300',
    ]);
    try {
      await sink.waitReady();
      const sender = spawnClient(this.sandbox, lane, [
        this.binary,
        'udp-send',
        serverAddr,
        port,
        String(bounds.durationMs),
        String(bounds.maxCount),
        String(payloadBytes),
      ]);
      const sent = await sender.result<UdpSendResult>(bounds.durationMs + 20000);
      const got = await sink.result<UdpSinkResult>(bounds.durationMs + 15000);
      if (got.received < 2)
        throw new Error(`the UDP sink on ${path} received ${got.received} datagrams (sender: ${JSON.stringify(sent)})`);
      const window = (got.lastNs - got.firstNs) / 1e9;
      return {
        perSecond: (got.received - 1) / window,
        detail: {
          received: got.received,
          windowNs: got.lastNs - got.firstNs,
          sent: sent.sent,
          sendFailed: sent.failed,
          sendElapsedNs: sent.elapsedNs,
        },
      };
    } finally {
      await killAndWait(sink.child);
    }
  }

  /** Paced TCP connects (e.g. 1k/s) in the background; resolves with the generator's count. */
  pacedConnects(
    lane: Lane,
    path: TrafficPath,
    durationMs: number,
    perSecond: number,
  ): { done: Promise<TcpConnectResult>; stop: () => Promise<void> } {
    const { serverNs, serverAddr } = endpoints(this.lab, lane, path);
    const port = freshPort();
    const sink = spawnInNs(this.sandbox, serverNs, [
      this.binary,
      'tcp-sink',
      serverAddr,
      port,
      sinkSeconds(durationMs),
    ]);
    const done = (async () => {
      await sink.waitReady();
      const client = spawnClient(this.sandbox, lane, [
        this.binary,
        'tcp-connect',
        serverAddr,
        port,
        String(durationMs),
        String(Math.ceil((durationMs / 1000) * perSecond)),
        String(perSecond),
      ]);
      return client.result<TcpConnectResult>(durationMs + 20000);
    })();
    return { done, stop: () => killAndWait(sink.child) };
  }

  /** Starts a probe that connects in a loop until the first failure (for rule-change latency). */
  async startProbe(
    lane: Lane,
    path: TrafficPath,
    port: string,
    maxSeconds: number,
    intervalUs: number,
  ): Promise<{ result: Promise<ProbeResult> }> {
    const { serverAddr } = endpoints(this.lab, lane, path);
    const probe = spawnClient(this.sandbox, lane, [
      this.binary,
      'tcp-probe',
      serverAddr,
      port,
      String(maxSeconds),
      String(intervalUs),
    ]);
    await probe.waitReady();
    return { result: probe.result<ProbeResult>((maxSeconds + 10) * 1000) };
  }

  /** A TCP sink kept running (for the probe); returns its port and a stop function. */
  async startTcpSink(
    lane: Lane,
    path: TrafficPath,
    maxSeconds: number,
  ): Promise<{ port: string; stop: () => Promise<void> }> {
    const { serverNs, serverAddr } = endpoints(this.lab, lane, path);
    const port = freshPort();
    const sink = spawnInNs(this.sandbox, serverNs, [this.binary, 'tcp-sink', serverAddr, port, String(maxSeconds)]);
    await sink.waitReady();
    return { port, stop: () => killAndWait(sink.child) };
  }
}
