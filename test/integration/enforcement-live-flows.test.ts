// Pausing and resuming enforcement decide every live socket again (issue 15): a flow let through
// during a pause loses its next packet once enforcement is back (a UDP send fails at once; a TCP
// segment is dropped and never arrives while enforcing), and a flow blocked before a pause flows
// during it. TCP and UDP, IPv4 and IPv6, through the real helper and its CLI's RPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import type { HelperClient } from '../../main/client/helper-client.js';
import { eventually } from '../support/eventually.js';

const PYTHON = '/usr/bin/python3';

// A client in the test cgroup driven line by line: "connect", "send X", "sendto X"; prints the
// outcome of each ("ok" or the errno name).
const CLIENT = `
import errno, socket, sys
family = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
kind = socket.SOCK_STREAM if sys.argv[2] == 'tcp' else socket.SOCK_DGRAM
target = (sys.argv[3], int(sys.argv[4]))
s = socket.socket(family, kind)
for line in sys.stdin:
    words = line.split()
    try:
        if words[0] == 'connect':
            s.connect(target)
        elif words[0] == 'send':
            s.send(words[1].encode())
        elif words[0] == 'sendto':
            s.sendto(words[1].encode(), target)
        print('ok', flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
`;

class Client {
  private output = '';
  private readonly waiters: Array<(line: string) => void> = [];

  constructor(private readonly child: ChildProcess) {
    child.stdout!.on('data', (chunk: Buffer) => {
      this.output += chunk.toString();
      let newline: number;
      while ((newline = this.output.indexOf('\n')) >= 0) {
        const line = this.output.slice(0, newline);
        this.output = this.output.slice(newline + 1);
        this.waiters.shift()?.(line);
      }
    });
  }

  /** Runs one command; resolves with its outcome. */
  do(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to "${command}"`)), 5000);
      this.waiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
      this.child.stdin!.write(`${command}\n`);
    });
  }
}

/** What a peer outside the cgroup received, as one string. */
interface Peer {
  received: () => string;
  port: number;
}

async function udpPeer(sandbox: Sandbox, host: string): Promise<Peer> {
  const socket: UdpSocket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  let received = '';
  socket.on('message', (message) => (received += message.toString()));
  await new Promise<void>((resolve) => socket.bind(0, host, () => resolve()));
  sandbox.defer(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return { received: () => received, port: socket.address().port };
}

async function tcpPeer(sandbox: Sandbox, host: string): Promise<Peer> {
  let received = '';
  const server: Server = createServer((connection) => {
    connection.on('data', (data) => (received += data.toString()));
    connection.on('error', () => undefined);
    sandbox.defer(() => {
      connection.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, () => resolve()));
  sandbox.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { received: () => received, port: address.port };
}

const pause = (client: HelperClient) => client.call('enforcement.set', { enabled: false });
const resume = (client: HelperClient) => client.call('enforcement.set', { enabled: true });

for (const family of [4, 6] as const) {
  const host = family === 4 ? '127.0.0.90' : '::1';

  test(`IPv${family} UDP: resuming blocks the next send of a flow let through during a pause; pausing lets a blocked one through`, async () => {
    await withSandbox(async (sandbox) => {
      const helper = await HelperProcess.start(sandbox);
      const rpc = await helper.client();
      const peer = await udpPeer(sandbox, host);
      await rpc.call('rules.add', { rule: { action: 'block', remote: host, protocol: 'udp' } });
      const spawn = () =>
        new Client(
          sandbox.spawnInCgroup(
            helper.paths.cgroup,
            [PYTHON, '-c', CLIENT, String(family), 'udp', host, `${peer.port}`],
            {
              stdio: ['pipe', 'pipe', 'pipe'],
            },
          ),
        );

      // Connected during a pause, then enforcement comes back.
      await pause(rpc);
      const connected = spawn();
      assert.equal(await connected.do('connect'), 'ok');
      assert.equal(await connected.do('send a'), 'ok');
      await eventually(peer.received, (received) => received.includes('a'), 'the datagram sent during the pause');
      await resume(rpc);
      assert.equal(await connected.do('send b'), 'EPERM', 'the first send after resuming');
      // Blocked, then paused: the same socket flows.
      await pause(rpc);
      assert.equal(await connected.do('send c'), 'ok');
      await eventually(peer.received, (received) => received.includes('c'), 'the datagram sent after pausing');

      // Unconnected: a verdict cached per remote by sendmsg is decided again too.
      await resume(rpc);
      const unconnected = spawn();
      assert.equal(await unconnected.do('sendto d'), 'EPERM');
      await pause(rpc);
      assert.equal(await unconnected.do('sendto e'), 'ok');
      await eventually(peer.received, (received) => received.includes('e'), 'the unconnected datagram after pausing');
      await resume(rpc);
      assert.equal(await unconnected.do('sendto f'), 'EPERM');
      assert.ok(!/[bdf]/.test(peer.received()), `blocked datagrams never arrived: ${peer.received()}`);
    });
  });

  test(`IPv${family} TCP: resuming drops the next segment of a connection made during a pause; pausing again lets it through`, async () => {
    await withSandbox(async (sandbox) => {
      const helper = await HelperProcess.start(sandbox);
      const rpc = await helper.client();
      const peer = await tcpPeer(sandbox, host);
      await rpc.call('rules.add', { rule: { action: 'block', remote: host, protocol: 'tcp' } });
      const client = new Client(
        sandbox.spawnInCgroup(
          helper.paths.cgroup,
          [PYTHON, '-c', CLIENT, String(family), 'tcp', host, `${peer.port}`],
          {
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        ),
      );
      await pause(rpc);
      assert.equal(await client.do('connect'), 'ok');
      assert.equal(await client.do('send a'), 'ok');
      await eventually(peer.received, (received) => received === 'a', 'the data sent during the pause');

      await resume(rpc);
      assert.equal(await client.do('send b'), 'ok', 'queued by the socket');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(peer.received(), 'a', 'the segment after resuming (and its retransmissions) were dropped');

      await pause(rpc);
      await eventually(peer.received, (received) => received === 'ab', 'the retransmission once paused again', 15_000);
    });
  });
}
