// What the kernel reports of DNS: the queries sockets of the cgroup were allowed to send and the
// answers delivered to sockets that sent one with that id, each with its message and owner; nothing
// for answers to a socket that never asked or with an id it never used, for a blocked query, for
// other payloads to port 53, or for any socket of a network namespace an unprivileged user made
// (there anyone can run a "resolver").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { DecisionEvent } from '../../native/api.js';
import { killAndWait, withSandbox } from '../support/sandbox.js';
import { DNS_PY, namespaceForgerCommand } from '../support/dns-forger.js';
import { EventCollector } from './event-collector.js';
import { allowByDefault, finished, openFixture, rule, runPython } from './kernel-fixture.js';

const RESOLVER = '127.53.0.1';
const BLOCKED_RESOLVER = '127.53.0.2';

/** A resolver outside the cgroup; "SEND <port>" makes it send an answer nobody asked for to that port. */
const RESOLVER_PY = `${DNS_PY}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((${JSON.stringify(RESOLVER)}, 53))
print('ready', flush=True)
while True:
    data, peer = s.recvfrom(512)
    if data.startswith(b'SEND '):
        s.sendto(answer(query('unasked.test', 0x2222), '127.0.0.66'), ('127.0.0.1', int(data[5:])))
    else:
        s.sendto(answer(data, '127.0.0.65'), peer)
`;

const isDns = (e: DecisionEvent) => e.kind === 'dns' || e.kind === 'dns-query';

test('DNS capture: a query and its delivered answer are reported; unasked answers, blocked queries and other payloads are not', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    await fixture.firewall.setRules([rule('block', BLOCKED_RESOLVER, { protocol: 'udp' })], allowByDefault);
    const resolver = spawn('python3', ['-c', RESOLVER_PY], { stdio: ['ignore', 'pipe', 'pipe'] });
    sandbox.defer(() => killAndWait(resolver));
    await new Promise((resolve) => resolver.stdout.once('data', resolve));
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());

    const run = await runPython(
      fixture,
      `${DNS_PY}
out = {}
asker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); asker.settimeout(3)
sent = query('one.test', 0x1111)
asker.sendto(sent, (${JSON.stringify(RESOLVER)}, 53))
out['query'] = sent.hex(); out['answer'] = asker.recv(512).hex(); out['askerPort'] = asker.getsockname()[1]
# A socket that never asked: the resolver sends it an answer anyway (the request is no DNS message).
listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); listener.bind(('127.0.0.1', 0)); listener.settimeout(3)
out['listenerPort'] = listener.getsockname()[1]
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'SEND %d' % out['listenerPort'], (${JSON.stringify(RESOLVER)}, 53))
out['unasked'] = len(listener.recv(512))
# And one with an id the asker never used, to the asker.
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'SEND %d' % out['askerPort'], (${JSON.stringify(RESOLVER)}, 53))
out['wrongId'] = len(asker.recv(512))
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(query('two.test', 0x3333), (${JSON.stringify(BLOCKED_RESOLVER)}, 53))
    out['blocked'] = 'sent'
except PermissionError:
    out['blocked'] = 'EPERM'
print(json.dumps(out))
`,
    );
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as Record<string, string | number>;
    assert.equal(out.unasked, 46, 'the unasked answer was delivered to the listener');
    assert.equal(out.wrongId, 46, 'the answer with an id never asked was delivered to the asker');
    assert.equal(out.blocked, 'EPERM');

    const answer = await events.waitFor((e) => e.kind === 'dns', 'the answer');
    const dns = events.events.filter(isDns);
    assert.deepEqual(
      dns.map((e) => [e.kind, e.remoteAddr, e.remotePort, e.localPort, Buffer.from(e.dnsPayload!).toString('hex')]),
      [
        ['dns-query', RESOLVER, 53, out.askerPort, out.query],
        ['dns', RESOLVER, 53, out.askerPort, out.answer],
      ],
    );
    assert.equal(dns[0]!.socketCookie, answer.socketCookie, 'one socket asked and was answered');
    assert.notEqual(answer.socketCookie, 0n);
    assert.equal(answer.comm, 'python3');
    assert.equal(answer.protocol, 'udp');
  });
});

test('DNS capture: sockets of a network namespace an unprivileged user made report nothing', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    const events = new EventCollector(fixture.firewall);
    sandbox.defer(() => events.stop());
    // As nobody, in a user+network namespace of its own (root there): a "resolver" on the address of
    // the host's one, answering the same process's query.
    const child = sandbox.spawnInCgroup(
      fixture.cgroup,
      namespaceForgerCommand('python3', RESOLVER, 'forged.test', '127.0.0.67'),
    );
    const forged = await finished(child);
    assert.deepEqual([forged.code, forged.stdout.trim()], [0, '127.0.0.67'], forged.stderr);

    // Then a socket of the host's namespace asks a real resolver: its events come after any of the forger's.
    const resolver = spawn('python3', ['-c', RESOLVER_PY], { stdio: ['ignore', 'pipe', 'pipe'] });
    sandbox.defer(() => killAndWait(resolver));
    await new Promise((resolve) => resolver.stdout.once('data', resolve));
    const real = await runPython(
      fixture,
      `${DNS_PY}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
s.sendto(query('real.test', 0x5555), (${JSON.stringify(RESOLVER)}, 53))
print(socket.inet_ntoa(s.recv(512)[-4:]))
`,
    );
    assert.equal(real.stdout.trim(), '127.0.0.65', real.stderr);
    await events.waitFor((e) => e.kind === 'dns', 'the real answer');
    assert.deepEqual(
      events.events.filter(isDns).map((e) => e.kind),
      ['dns-query', 'dns'],
      'only the host namespace socket was reported',
    );
    assert.ok(
      events.events.some((e) => e.kind === 'sendmsg' && e.remotePort === 53 && e.uid === 65534),
      'the forger was in the cgroup (its sends were decided)',
    );
  });
});
