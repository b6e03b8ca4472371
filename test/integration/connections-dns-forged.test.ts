// Forged DNS answers teach the helper nothing: not from a user+network namespace an unprivileged user
// made in the same cgroup (root there, with a "resolver" on the real one's address), not as
// unsolicited datagrams from port 53 to a listening socket, not as a flood of 100k distinct answers
// to a socket that did ask something. No name on flows, no address in the domain rule (the kernel
// lets the address through), the helper's memory bounded, no rule re-apply for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { withSandbox, type Sandbox } from '../support/sandbox.js';
import { HelperProcess } from '../support/helper-process.js';
import { finished } from '../kernel/kernel-fixture.js';
import { PEER_SCRIPT, SYSTEM_PYTHON, TRAFFIC_SCRIPT, randomPort } from './connections-rig.js';
import { dnsStatus, domainAddresses, firstLine, runApp, startResolver } from './dns-rig.js';
import { eventually, present } from '../support/eventually.js';
import type { Flow } from '../../main/contract/index.js';
import { DNS_PY, namespaceForgerCommand } from '../support/dns-forger.js';

/**
 * Python that sends COUNT answers from SOURCE:53 to TARGET:PORT, each for its own name under
 * DOMAIN (f<i>.DOMAIN) giving ADDRESS (or, with ADDRESS "spread", its own address 127.66.x.y),
 * each with its own id (or, with ID a number, all with that one); prints how long it took.
 */
const FORGER_PY = `${DNS_PY}
source, target, port, count, domain, address = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
fixed_id = int(sys.argv[7]) if len(sys.argv) > 7 else None
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((source, 53))
started = time.monotonic()
for i in range(count):
    to = '127.66.%d.%d' % (i >> 8 & 255, i & 255) if address == 'spread' else address
    q = query('f%d.%s' % (i, domain), i & 0xffff if fixed_id is None else fixed_id)
    s.sendto(answer(q, to, 3600), (target, port))
print(round((time.monotonic() - started) * 1000), flush=True)
`;

/** A UDP socket in the cgroup that waits for datagrams (after asking `name` of `server`, when given). */
async function listeningApp(
  sandbox: Sandbox,
  cgroup: string,
  bind: string,
  ask?: { server: string; name: string },
): Promise<{ port: number; done: Promise<Record<string, unknown>> }> {
  const child = sandbox.spawnInCgroup(cgroup, [
    SYSTEM_PYTHON,
    TRAFFIC_SCRIPT,
    'dns-listen',
    bind,
    '0',
    ...(ask ? [ask.server, ask.name] : []),
  ]);
  const { port } = JSON.parse(await firstLine(child, 'listening app')) as { port: number };
  const done = finished(child, 90_000).then(
    ({ stdout }) => JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>,
  );
  return { port, done };
}

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1]);
}

test('connections DNS: answers forged in a user+net namespace or sent unasked to a listening socket teach nothing', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const host = sandbox.makeTestHost(1);
    const port = randomPort();
    await firstLine(sandbox.spawnInNetns(host.netns, [SYSTEM_PYTHON, PEER_SCRIPT, host.peer4, String(port)]), 'peer');
    const blocked = await helper.cli(['block', '*.forged.test', '--json']);
    assert.equal(blocked.code, 0, blocked.stderr);
    const ruleId = (JSON.parse(blocked.stdout) as { id: number }).id;

    // 1. As nobody, in a user+network namespace of its own inside the cgroup: a "resolver" on the
    // host's resolver address (host4, given to its own loopback) answers its own query with peer4.
    const forger = await finished(
      sandbox.spawnInCgroup(
        helper.paths.cgroup,
        namespaceForgerCommand(SYSTEM_PYTHON, host.host4, 'www.forged.test', host.peer4),
      ),
    );
    assert.deepEqual([forger.code, forger.stdout.trim()], [0, host.peer4], forger.stderr);

    // 2. A host on the network sends answers nobody asked for to a listening UDP socket in the cgroup.
    const listener = await listeningApp(sandbox, helper.paths.cgroup, host.host4);
    const lan = await finished(
      sandbox.spawnInNetns(host.netns, [
        SYSTEM_PYTHON,
        '-c',
        FORGER_PY,
        host.peer4,
        host.host4,
        String(listener.port),
        '100',
        'forged.test',
        host.peer4,
      ]),
    );
    assert.equal(lan.code, 0, lan.stderr);
    assert.ok(Number((await listener.done).received) > 0, 'the unasked answers were delivered');

    // Nothing was learned: the kernel lets the app reach peer4, and its flow has no name.
    const download = await runApp(sandbox, helper.paths.cgroup, [
      SYSTEM_PYTHON,
      TRAFFIC_SCRIPT,
      'tcp-download',
      host.peer4,
      String(port),
      '1000',
    ]);
    assert.equal(download.received, 1000, JSON.stringify(download));
    const flow = await eventually(
      async () =>
        (JSON.parse((await helper.cli(['connections', '--json'])).stdout) as Flow[]).find(
          (f) => f.remoteAddr === host.peer4 && f.remotePort === port,
        ),
      present,
      `the download's flow from ${host.peer4} port ${port}`,
    );
    assert.equal(flow.remoteName, null);
    assert.equal(flow.blocked, 0);
    assert.deepEqual(await domainAddresses(helper, ruleId), []);
    const dns = await dnsStatus(helper);
    assert.deepEqual([dns.queries, dns.answersLearned, dns.domainAddresses], [0, 0, 0], JSON.stringify(dns));
  });
});

test('connections DNS: 100k distinct forged answers to a socket that asked leave memory, names and rules as they were', async () => {
  await withSandbox(async (sandbox) => {
    const helper = await HelperProcess.start(sandbox);
    const host = sandbox.makeTestHost(1);
    await startResolver(sandbox, host.host4, host.peer4);
    const blocked = await helper.cli(['block', '*.flood.test', '--json']);
    assert.equal(blocked.code, 0, blocked.stderr);
    const ruleId = (JSON.parse(blocked.stdout) as { id: number }).id;

    // The app asks a real question (25 addresses, learned), then keeps its socket open.
    const app = await listeningApp(sandbox, helper.paths.cgroup, host.host4, {
      server: host.host4,
      name: 'many-0.flood.test',
    });
    const learned = await eventually(
      () => domainAddresses(helper, ruleId),
      (held) => held.length === 25,
      'the 25 addresses of the real answer learned',
    );
    assert.equal(learned.length, 25);
    const before = await dnsStatus(helper);
    const rssBefore = rssKiB(helper.pid!);

    // From the resolver's address on the network, 100k answers to the app's socket, each its own
    // name under the blocked domain and its own address: first each with its own id, which the
    // kernel lets through only when it is the id the socket asked with; then all with that id (an
    // attacker who saw or guessed it), which reach the helper's matching.
    const settled = async () => {
      let ignored = -1;
      const { status } = await eventually(
        async () => {
          const previous = ignored;
          const current = await dnsStatus(helper);
          ignored = current.answersIgnored;
          return { status: current, settled: ignored === previous };
        },
        ({ settled: done }) => done,
        'the count of ignored answers settled',
        { timeoutMs: 20_000, everyMs: 100 },
      );
      return status;
    };
    const flood = async (id?: number) => {
      const sent = await finished(
        sandbox.spawnInNetns(host.netns, [
          SYSTEM_PYTHON,
          '-c',
          FORGER_PY,
          host.peer4,
          host.host4,
          String(app.port),
          '100000',
          'flood.test',
          'spread',
          ...(id === undefined ? [] : [String(id)]),
        ]),
        60_000,
      );
      assert.equal(sent.code, 0, sent.stderr);
      return Number(sent.stdout.trim());
    };
    const eachIdMs = await flood();
    const middle = await settled();
    const rssMiddle = rssKiB(helper.pid!);
    const askedIdMs = await flood(0x6161);
    const after = await settled();
    const { received } = await app.done;
    const rssAfter = rssKiB(helper.pid!);
    const seenEach = middle.answersIgnored - before.answersIgnored;
    const seenAsked = after.answersIgnored - middle.answersIgnored;
    console.log(
      `flood: 100000 answers with their own ids sent in ${eachIdMs} ms, the helper saw ${seenEach}; ` +
        `100000 with the asked id in ${askedIdMs} ms, the helper saw ${seenAsked} (the rest lost in the ring buffer); ` +
        `the app received ${String(received)}; helper RSS ${Math.round(rssBefore / 1024)} -> ${Math.round(rssMiddle / 1024)} -> ${Math.round(rssAfter / 1024)} MiB`,
    );
    assert.ok(seenEach < 100, `answers with ids the socket never used stay in the kernel (${seenEach} reported)`);
    assert.ok(seenAsked > 1000, `answers with the asked id reach the helper's matching (${seenAsked})`);
    assert.equal(after.answersLearned, before.answersLearned);
    assert.equal(after.domainApplies, before.domainApplies, 'no rule re-apply');
    assert.equal(after.domainAddresses, 25);
    assert.ok(after.pendingQueries <= 1);
    const held = await domainAddresses(helper, ruleId);
    assert.deepEqual(held.map((a) => a.address).sort(), learned.map((a) => a.address).sort());
    assert.ok(rssAfter - rssBefore < 64 * 1024, `the helper's memory stays bounded (${rssBefore} -> ${rssAfter} KiB)`);
  });
});
