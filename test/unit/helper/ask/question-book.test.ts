// Questions group held connections per app and per destination; closes, answers and deadlines
// take connections out, and a question with none left goes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuestionBook, heldKey, type HeldConnection } from '../../../../main/helper/ask/question-book.js';

let cookie = 1n;
function held(
  appId: number,
  remoteAddr: string,
  remotePort: number,
  extra: Partial<HeldConnection> = {},
): HeldConnection {
  const protocol = extra.protocol ?? 'tcp';
  return {
    ref: {
      cookie: cookie++,
      protocol,
      family: 4,
      remote: new Uint8Array(remoteAddr.split('.').map(Number)),
      remotePort,
    },
    appId,
    claimId: 0,
    pid: 100 + appId,
    uid: 1000,
    exe: null,
    comm: `app${appId}`,
    remoteAddr,
    remoteName: null,
    remotePort,
    protocol,
    heldAt: 1000,
    deadline: 31_000,
    ...extra,
  };
}

test('one question per app, listing each host once with its ports, protocols and held count', () => {
  const book = new QuestionBook();
  const firefox = { name: 'Firefox', exe: '/usr/bin/firefox' };
  const connections = [
    held(1, '192.0.2.1', 443),
    held(1, '192.0.2.1', 443),
    held(1, '192.0.2.1', 80, { heldAt: 900, deadline: 30_900 }),
    held(1, '192.0.2.2', 53, { protocol: 'udp', remoteName: 'example.org' }),
    held(2, '192.0.2.1', 443),
  ];
  for (const connection of connections)
    assert.ok(book.add(connection, connection.appId === 1 ? firefox : { name: 'curl', exe: null }));
  assert.equal(book.add(connections[0]!, firefox), false, 'a connection joins once');
  const prompts = book.prompts();
  assert.equal(prompts.length, 2);
  const [first, second] = prompts;
  assert.equal(first!.appName, 'Firefox');
  assert.equal(first!.askedAt, 900);
  assert.equal(first!.deadline, 30_900);
  assert.deepEqual(first!.pids, [101]);
  assert.deepEqual(first!.hosts, [
    { remoteAddr: '192.0.2.1', remoteName: null, ports: [80, 443], protocols: ['tcp'], held: 3 },
    { remoteAddr: '192.0.2.2', remoteName: 'example.org', ports: [53], protocols: ['udp'], held: 1 },
  ]);
  assert.equal(second!.appName, 'curl');
  assert.equal(book.size, 2);
  assert.equal(book.heldCount, 5);
});

test('closed sockets, answers and deadlines take connections out; an empty question goes', () => {
  const book = new QuestionBook();
  const a = held(1, '192.0.2.1', 443, { deadline: 5000 });
  const b = held(1, '192.0.2.3', 443, { deadline: 9000 });
  book.add(a, { name: 'a', exe: null });
  book.add(b, { name: 'a', exe: null });
  const id = book.prompts()[0]!.id;
  assert.deepEqual(
    book.due(6000).map((c) => heldKey(c.ref)),
    [heldKey(a.ref)],
  );
  assert.equal(book.nextDeadline(), 5000);
  book.remove(book.ofSocket(a.ref.cookie));
  assert.equal(book.question(id)!.held.length, 1);
  assert.equal(book.has(a.ref), false);
  book.remove([b]);
  assert.equal(book.question(id), null);
  assert.deepEqual(book.prompts(), []);
  assert.equal(book.nextDeadline(), null);
  // The app's next hold is a new question.
  book.add(held(1, '192.0.2.1', 443), { name: 'a', exe: null });
  assert.notEqual(book.prompts()[0]!.id, id);
});

test('a UDP flow is told apart by its remote; a TCP connect by its socket alone', () => {
  const udp = held(1, '192.0.2.1', 53, { protocol: 'udp' });
  const other = { ...udp, ref: { ...udp.ref, remote: new Uint8Array([192, 0, 2, 9]) } };
  assert.notEqual(heldKey(udp.ref), heldKey(other.ref));
  const tcp = held(1, '192.0.2.1', 443);
  assert.equal(heldKey(tcp.ref), heldKey({ ...tcp.ref, remote: new Uint8Array(4), remotePort: 0 }));
});
