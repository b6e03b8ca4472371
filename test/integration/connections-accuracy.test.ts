// Accuracy of the connections picture on real traffic: each generator counts its own payload
// bytes; the flows stored for its app must agree within 10%, attributed to the right app.
// Generators run inside the test cgroup as "the app" (a copy of python under its own name);
// peers run outside it, so only the generator's side of each flow is counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { withSandbox } from '../support/sandbox.js';
import {
  generate,
  openRig,
  randomPort,
  settledTotals,
  startPeer,
  SYSTEM_PYTHON,
  TRAFFIC_SCRIPT,
  within,
  type Generated,
  type Rig,
} from './connections-rig.js';
import type { Flow } from '../../main/contract/index.js';
import { eventually } from '../support/eventually.js';

const MB = 1024 * 1024;

function assertWithin(label: string, actual: { bytesOut: number; bytesIn: number }, generated: Generated): void {
  assert.ok(
    within(actual.bytesOut, generated.sent, 0.1),
    `${label}: counted ${actual.bytesOut} bytes out, the generator sent ${generated.sent}`,
  );
  assert.ok(
    within(actual.bytesIn, generated.received, 0.1),
    `${label}: counted ${actual.bytesIn} bytes in, the generator received ${generated.received}`,
  );
}

/** Runs one generator against a peer and checks bytes and attribution. */
async function check(
  rig: Rig,
  label: string,
  options: {
    mode: string;
    host: string;
    port?: number;
    args: number[];
    protocol: Flow['protocol'];
    peerNetns?: string;
    generatorNetns?: string;
    exe?: string;
    expectApp?: number;
  },
): Promise<Generated> {
  const port = options.port ?? randomPort();
  if (options.protocol !== 'icmp') await startPeer(rig, options.host, port, options.peerNetns);
  const generated = await generate(rig, options.mode, options.host, port, options.args, {
    netns: options.generatorNetns,
    exe: options.exe,
  });
  const appId = options.expectApp ?? rig.appId;
  const totals = await settledTotals(
    rig,
    appId,
    options.host,
    options.protocol === 'icmp' ? null : port,
    options.protocol,
    { out: generated.sent, in: generated.received },
  );
  assert.ok(
    totals.flows.length > 0,
    `${label}: no ${options.protocol} flow to ${options.host} was recorded for app ${appId}; all flows: ${JSON.stringify(await rig.connections.pipeline.list({}))}`,
  );
  assertWithin(label, totals, generated);
  assert.ok(
    totals.flows.every((f) => f.appId === appId && f.direction === 'out' && f.allowed >= 1),
    `${label}: ${JSON.stringify(totals.flows)}`,
  );
  return generated;
}

test('connections accuracy: TCP bulk download, upload and full duplex over loopback', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    await check(rig, 'download', { mode: 'tcp-download', host: '127.0.0.1', args: [8 * MB], protocol: 'tcp' });
    await check(rig, 'upload', { mode: 'tcp-upload', host: '127.0.0.1', args: [8 * MB], protocol: 'tcp' });
    await check(rig, 'duplex', { mode: 'tcp-duplex', host: '127.0.0.1', args: [4 * MB], protocol: 'tcp' });
  });
});

test('connections accuracy: UDP both ways (connected and unconnected), many small datagrams, loopback IPv6', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    await check(rig, 'udp connected', { mode: 'udp', host: '127.0.0.1', args: [300, 1200, 1], protocol: 'udp' });
    await check(rig, 'udp unconnected', { mode: 'udp', host: '127.0.0.1', args: [300, 1200, 0], protocol: 'udp' });
    await check(rig, 'udp small', { mode: 'udp', host: '127.0.0.1', args: [5000, 16, 1], protocol: 'udp' });
    await check(rig, 'udp ::1', { mode: 'udp', host: '::1', args: [200, 800, 1], protocol: 'udp' });
    await check(rig, 'tcp ::1', { mode: 'tcp-duplex', host: '::1', args: [2 * MB], protocol: 'tcp' });
  });
});

test('connections accuracy: ICMP echo with payload', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    await check(rig, 'icmp', { mode: 'icmp', host: '127.0.0.1', args: [20, 1000], protocol: 'icmp' });
  });
});

test('connections accuracy: IPv6 TCP and UDP to a test host in a netns; a generator in its own netns', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    const host = sandbox.makeTestHost(1);
    await check(rig, 'tcp v6 netns', {
      mode: 'tcp-duplex',
      host: host.peer6,
      args: [2 * MB],
      protocol: 'tcp',
      peerNetns: host.netns,
    });
    await check(rig, 'udp v6 netns', {
      mode: 'udp',
      host: host.peer6,
      args: [300, 1000, 1],
      protocol: 'udp',
      peerNetns: host.netns,
    });
    // The generator itself in a network namespace (still in the test cgroup); the peer on the host side of the veth.
    await check(rig, 'tcp from a netns', {
      mode: 'tcp-download',
      host: host.host4,
      args: [2 * MB],
      protocol: 'tcp',
      generatorNetns: host.netns,
    });
  });
});

test('connections accuracy: short-lived processes, many small connections, a parallel burst', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    await check(rig, 'short-lived', { mode: 'short-lived', host: '127.0.0.1', args: [200, 500], protocol: 'udp' });
    await check(rig, 'many tcp', { mode: 'tcp-many', host: '127.0.0.1', args: [300, 200], protocol: 'tcp' });
    await check(rig, 'parallel', { mode: 'tcp-parallel', host: '127.0.0.1', args: [16, 256 * 1024], protocol: 'tcp' });
  });
});

test('connections accuracy: sendfile and splice transfers', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    await check(rig, 'sendfile', { mode: 'sendfile', host: '127.0.0.1', args: [8 * MB], protocol: 'tcp' });
    await check(rig, 'splice', { mode: 'splice', host: '127.0.0.1', args: [4 * MB], protocol: 'tcp' });
  });
});

test('connections accuracy: a child process (another executable) counts for the app that started it', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    const generated = await check(rig, 'child', { mode: 'child', host: '127.0.0.1', args: [2 * MB], protocol: 'tcp' });
    assert.notEqual(generated.childPid, generated.pid);
    // The child's executable was never an app of its own.
    assert.ok(!rig.engine.apps.list().some((app) => app.exe === SYSTEM_PYTHON), 'the child became an app of its own');
  });
});

/** Runs the app as a server in the cgroup with clients outside it; returns its own counts and the stored totals. */
async function serveCase(
  rig: Rig,
): Promise<{ generated: Generated; totals: Awaited<ReturnType<typeof settledTotals>> }> {
  const port = randomPort();
  const server = rig.sandbox.spawnInCgroup(rig.cgroup, [
    rig.appExe,
    TRAFFIC_SCRIPT,
    'serve',
    '127.0.0.1',
    String(port),
    '3',
    String(MB),
  ]);
  let out = '';
  server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually(
    () => out,
    (said) => said.includes('listening'),
    'the server listening',
    { everyMs: 100 },
  );
  // Clients outside the cgroup, each sending 64 KiB and reading everything.
  for (let i = 0; i < 3; i++) {
    execFileSync(
      SYSTEM_PYTHON,
      [
        '-c',
        `import socket\ns=socket.create_connection(('127.0.0.1', ${port}))\ns.sendall(b'c'*65536)\ns.shutdown(socket.SHUT_WR)\nwhile s.recv(65536): pass`,
      ],
      { timeout: 20_000 },
    );
  }
  const exited = await new Promise<number | null>((resolve) =>
    server.exitCode !== null ? resolve(server.exitCode) : server.once('exit', resolve),
  );
  assert.equal(exited, 0);
  const generated = JSON.parse(out.trim().split('\n').pop()!) as Generated;
  const totals = await settledTotals(rig, rig.appId, '127.0.0.1', null, 'tcp', {
    out: generated.sent,
    in: generated.received,
  });
  return { generated, totals };
}

test("connections accuracy: inbound connections to a listener are the listening app's; bytes received counted", async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    const { generated, totals } = await serveCase(rig);
    assert.ok(
      totals.flows.length > 0,
      `no inbound flow for the listening app: ${JSON.stringify(await rig.connections.pipeline.list({}))}`,
    );
    assert.ok(
      totals.flows.every((f) => f.appId === rig.appId && f.direction === 'in'),
      JSON.stringify(totals.flows),
    );
    assert.ok(
      within(totals.bytesIn, generated.received, 0.1),
      `inbound: counted ${totals.bytesIn} bytes in, the server received ${generated.received}`,
    );
  });
});

test('connections accuracy: bytes a listener sends on accepted connections', async () => {
  await withSandbox(async (sandbox) => {
    const rig = await openRig(sandbox);
    const { generated, totals } = await serveCase(rig);
    assert.ok(
      within(totals.bytesOut, generated.sent, 0.1),
      `inbound: counted ${totals.bytesOut} bytes out, the server sent ${generated.sent}`,
    );
  });
});
