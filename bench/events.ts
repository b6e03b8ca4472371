// Events into the helper per second, and that losses are counted, never silent.
//
//   node --import tsx bench/events.ts [--smoke] [--json bench/results/events.json]
//
// A. The helper's own side: the connections pipeline (app identity, DNS names, flow tracking)
//    fed decoded kernel events as fast as it takes them, against the cost of only decoding the
//    same records (baseline measured in the same run). Measured twice: processing only, and with
//    the flows' changes written to SQLite after every pass over the records (as the helper's
//    timer does every 2 s), so the write cost per event is counted too. The records are a worst
//    case for writes: every second event opens a new flow (200k flows, each written every pass).
// B. End to end on the real kernel: the programs on a bench cgroup, the C load generator doing
//    TCP connect+close as fast as it can inside it (two events per connection), the real ring
//    buffer and event thread delivering to the same pipeline. Reports events delivered per second
//    and the kernel's drop counter; with a deliberately small ring it shows drops are counted
//    (delivered + dropped = emitted).
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Firewall } from '../native/index.js';
import * as abi from '../native/abi.js';
import { pcl_event as EV } from '../native/abi.js';
import { EVENT_BYTES, EventDecoder } from '../native/event-layout.js';
import { formatIp } from '../main/contract/net.js';
import type { DecisionEvent } from '../native/api.js';
import { findCgroup2Mount } from '../main/common/cgroup2.js';
import { openDatabase } from '../main/helper/store/database.js';
import { AppsStore } from '../main/helper/apps/apps-store.js';
import { AppIdentities } from '../main/helper/apps/app-identities.js';
import { DesktopEntries } from '../main/helper/apps/desktop-entries.js';
import { DnsNames } from '../main/helper/dns/dns-names.js';
import { DnsObserver } from '../main/helper/dns/dns-observer.js';
import { FlowTracker } from '../main/helper/flows/flow-tracker.js';
import { FlowsStore } from '../main/helper/flows/flows-store.js';
import { ConnectionPipeline } from '../main/helper/flows/connection-pipeline.js';
import { Sandbox } from '../test/support/sandbox.js';
import { buildLoadgen, startLoopbackConnects } from './lib/loadgen.js';

const smoke = process.argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
const jsonAt = process.argv.indexOf('--json');
const output = jsonAt !== -1 ? process.argv[jsonAt + 1]! : join(__dirname, 'results', 'events.json');
const TARGET_PER_SECOND = 200_000;
/** The helper's decoding: IPv6 through the contract's formatter. */
const decoding = { formatV6: (bytes: Uint8Array) => formatIp({ family: 6, bytes }) };

function pipelineIn(
  stateDir: string,
  readTotalRecords?: () => Promise<Buffer>,
): { pipeline: ConnectionPipeline; close(): Promise<void> } {
  const db = openDatabase(stateDir);
  const identities = new AppIdentities(db, new AppsStore(db), new DesktopEntries([]), {
    cgroupRoot: findCgroup2Mount(),
  });
  const names = new DnsNames();
  const pipeline = new ConnectionPipeline({
    identities,
    names,
    dns: new DnsObserver(names),
    tracker: new FlowTracker(),
    store: new FlowsStore(db),
    readTotalRecords,
    retentionDays: () => 30,
    log: (message) => console.error(`events bench: ${message}`),
  });
  pipeline.start();
  return {
    pipeline,
    close: async () => {
      await pipeline.stop();
      db.close();
    },
  };
}

/** Kernel-shaped records: connects and closes of many sockets to many remotes, from 50 apps and this process. */
function syntheticRecords(count: number): Buffer {
  const buf = Buffer.alloc(count * EVENT_BYTES);
  for (let i = 0; i < count; i++) {
    const at = i * EVENT_BYTES;
    const socket = Math.floor(i / 2);
    const closing = i % 2 === 1;
    buf.writeBigUInt64LE(process.hrtime.bigint(), at + EV.time_ns);
    buf.writeBigUInt64LE(BigInt(socket + 1), at + EV.cookie);
    buf.writeBigUInt64LE(1n, at + EV.cgroup_id);
    if (closing) {
      buf.writeBigUInt64LE(BigInt(1000 + (socket % 5000)), at + EV.bytes_out);
      buf.writeBigUInt64LE(BigInt(20_000 + (socket % 7000)), at + EV.bytes_in);
      buf.writeBigUInt64LE(3n, at + EV.packets_out);
      buf.writeBigUInt64LE(5n, at + EV.packets_in);
    }
    buf.writeUInt32LE(process.pid, at + EV.tgid);
    buf.writeUInt32LE(0, at + EV.uid);
    buf.writeUInt32LE(socket % 10 === 0 ? 0 : 1 + (socket % 50), at + EV.app_id); // 0 = ask /proc (cached per tgid)
    buf.writeUInt32LE(0, at + EV.rule_id);
    buf.writeUInt8(127, at + EV.local_addr);
    buf.writeUInt8(1, at + EV.local_addr + 3); // local 127.0.0.1
    buf.set([10, (socket >> 16) & 0xff, (socket >> 8) & 0xff, socket & 0xff], at + EV.remote_addr);
    buf.writeUInt16LE(40_000 + (socket % 20_000), at + EV.local_port);
    buf.writeUInt16LE(443, at + EV.remote_port);
    buf.writeUInt8(closing ? abi.PCL_EV_CLOSE : abi.PCL_EV_CONNECT, at + EV.kind);
    buf.writeUInt8(4, at + EV.family);
    buf.writeUInt8(abi.PCL_PROTO_TCP, at + EV.protocol);
    buf.writeUInt8(abi.PCL_DIR_OUT, at + EV.direction);
    buf.writeUInt8(abi.PCL_ACT_ALLOW, at + EV.verdict);
    buf.write('bench', at + EV.comm);
  }
  return buf;
}

interface CapacityResult {
  events: number;
  seconds: number;
  perSecond: number;
}

/** Events per second through `consume`; `afterPass` (timed too) runs after every pass over the records. */
async function measureCapacity(
  records: Buffer,
  batchEvents: number,
  consume: (events: DecisionEvent[]) => void,
  maxSeconds: number,
  afterPass = async () => {},
): Promise<CapacityResult> {
  const decoder = new EventDecoder(decoding);
  const batchBytes = batchEvents * EVENT_BYTES;
  const started = process.hrtime.bigint();
  let events = 0;
  for (let round = 0; round < 1000; round++) {
    for (let at = 0; at < records.length; at += batchBytes) {
      const batch = decoder.decode(records.subarray(at, Math.min(at + batchBytes, records.length)));
      consume(batch);
      events += batch.length;
    }
    await afterPass();
    if (Number(process.hrtime.bigint() - started) / 1e9 > maxSeconds) break;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { events, seconds, perSecond: events / seconds };
}

async function userSpaceCapacity(): Promise<Record<string, unknown>> {
  const records = syntheticRecords(smoke ? 20_000 : 400_000);
  const decodeOnly = await measureCapacity(records, 2000, () => undefined, smoke ? 0.5 : 3);
  const stateDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-events-'));
  try {
    const processing = pipelineIn(stateDir);
    const full = await measureCapacity(
      records,
      2000,
      (events) => {
        processing.pipeline.process(events);
      },
      smoke ? 0.5 : 3,
    );
    const flushStarted = process.hrtime.bigint();
    await processing.pipeline.flush();
    const flushMs = Number(process.hrtime.bigint() - flushStarted) / 1e6;
    await processing.close();
    rmSync(stateDir, { recursive: true, force: true });
    const writing = pipelineIn(stateDir);
    const withWrites = await measureCapacity(
      records,
      2000,
      (events) => {
        writing.pipeline.process(events);
      },
      smoke ? 0.5 : 3,
      () => writing.pipeline.flush(),
    );
    await writing.close();
    return {
      decodeOnly,
      pipeline: full,
      lastFlushMs: flushMs,
      pipelineWithWrites: withWrites,
      pipelineVsDecode: full.perSecond / decodeOnly.perSecond,
      pipelineVsTarget: full.perSecond / TARGET_PER_SECOND,
      pipelineWithWritesVsTarget: withWrites.perSecond / TARGET_PER_SECOND,
    };
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function endToEnd(
  sandbox: Sandbox,
  loadgen: string,
  ringBytes: number,
  durationMs: number,
): Promise<Record<string, unknown>> {
  const cgroup = sandbox.makeCgroup(`bench-events-ring${ringBytes}`);
  const pinDir = `${sandbox.makeBpffs()}/portcullis`;
  const firewall = await Firewall.open({ cgroup, pinDir, ringBytes });
  const stateDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-events-'));
  const { pipeline, close } = pipelineIn(stateDir, () => firewall.readFlows());
  let delivered = 0;
  let reportedDrops = 0n;
  const before = await firewall.readCounters();
  const subscription = firewall.subscribe((events, drops) => {
    delivered += events.length;
    reportedDrops += drops;
    pipeline.process(events);
  }, decoding);
  try {
    const { finished } = await startLoopbackConnects(sandbox, loadgen, cgroup, {
      durationMs,
      maxConnections: smoke ? 20_000 : 5_000_000,
    });
    const result = await finished;
    // Let the event thread drain what the ring still holds.
    let last = -1;
    for (let i = 0; i < 50 && last !== delivered; i++) {
      last = delivered;
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = await firewall.readCounters();
    const emitted = Number(after.events - before.events);
    const kernelDrops = Number(after.eventDrops - before.eventDrops);
    const seconds = result.elapsedNs / 1e9;
    return {
      ringBytes,
      connections: result.ok,
      failedConnections: result.failed,
      seconds,
      connectionsPerSecond: result.ok / seconds,
      eventsEmitted: emitted,
      eventsDelivered: delivered,
      kernelDrops,
      dropsReportedToHelper: Number(reportedDrops),
      deliveredPerSecond: delivered / seconds,
      lossless: kernelDrops === 0,
      // Every event the kernel queued reached the helper; the ones it could not queue are in the drop counter.
      accountedFor: delivered === emitted,
    };
  } finally {
    subscription.close();
    await close();
    await firewall.close();
    await Firewall.detach(pinDir);
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const capacity = await userSpaceCapacity();
  console.error(
    `events bench: pipeline ${(capacity.pipeline as CapacityResult).perSecond.toFixed(0)} events/s, with SQLite writes ${(capacity.pipelineWithWrites as CapacityResult).perSecond.toFixed(0)}/s (decode only ${(capacity.decodeOnly as CapacityResult).perSecond.toFixed(0)}/s)`,
  );
  const sandbox = new Sandbox();
  const kernel: Record<string, unknown>[] = [];
  try {
    const binDir = sandbox.makeTempDir('bench-loadgen');
    const loadgen = buildLoadgen(binDir);
    for (const ringBytes of smoke ? [256 * 1024] : [256 * 1024, 4 * 1024 * 1024, 16 * 1024]) {
      const run = await endToEnd(sandbox, loadgen, ringBytes, smoke ? 500 : 3000);
      kernel.push(run);
      console.error(
        `events bench: ring ${ringBytes} B: ${Number(run.connectionsPerSecond).toFixed(0)} connections/s, ${Number(run.deliveredPerSecond).toFixed(0)} events/s delivered, ${run.kernelDrops} dropped (counted)`,
      );
    }
  } finally {
    await sandbox.dispose();
  }
  const result = {
    kind: 'events',
    smoke,
    measuredAt: new Date().toISOString(),
    targetPerSecond: TARGET_PER_SECOND,
    userSpace: capacity,
    endToEnd: kernel,
  };
  mkdirSync(dirname(output), { recursive: true });
  writeFileSync(output, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`events bench: wrote ${output}`);
}

main().catch((error: Error) => {
  console.error(`events bench failed: ${error.stack ?? error.message}`);
  process.exit(1);
});
