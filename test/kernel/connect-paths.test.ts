// Every way a process can start a connection or send a datagram meets the rules, not only
// connect() and sendto(): TCP Fast Open (the SYN carries data, sent by sendto(MSG_FASTOPEN) with
// no connect()) and sendmmsg (many datagrams in one call).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withSandbox } from '../support/sandbox.js';
import { allowByDefault, openFixture, rule, runPython } from './kernel-fixture.js';

/** python: a TCP Fast Open send (data in the SYN); prints "sent" or the errno's name. */
const fastOpenSend = (address: string, port: number) => `
import socket, errno
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.sendto(b"in the SYN", socket.MSG_FASTOPEN, (${JSON.stringify(address)}, ${port}))
    print("sent")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;

test('TCP Fast Open to a blocked address fails with EPERM; to another it goes out', async () => {
  await withSandbox(async (sandbox) => {
    const fixture = await openFixture(sandbox);
    await fixture.firewall.setRules([rule('block', '127.0.0.7')], allowByDefault);
    const blocked = await runPython(fixture, fastOpenSend('127.0.0.7', 9));
    assert.equal(blocked.stdout.trim(), 'EPERM', blocked.stderr);
    // Nothing listens on 127.0.0.8:9: the SYN is answered with a reset, so the send is refused by the stack.
    const allowed = await runPython(fixture, fastOpenSend('127.0.0.8', 9));
    assert.match(allowed.stdout.trim(), /^(ECONNREFUSED|EINPROGRESS|sent)$/, allowed.stderr);
  });
});
