import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseDnsQuery,
  parseDnsResponse,
  resolutionsFor,
  type DnsResponse,
} from '../../../../main/helper/dns/dns-message.js';
import { encodeName, message, record, u16, u32 } from '../../../support/dns-wire.js';

test('dns: A answer with a compressed owner name', () => {
  // The question name starts at offset 12; the answer points back to it.
  const bytes = message({ questions: ['Example.COM'], answers: [record({ pointer: 12 }, 1, 300, [93, 184, 216, 34])] });
  const parsed = parseDnsResponse(bytes);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value.questions, [{ name: 'example.com', type: 1, class: 1 }]);
  assert.deepEqual(parsed.value.answers, [{ name: 'example.com', type: 'A', ttl: 300, data: '93.184.216.34' }]);
  assert.equal(parsed.value.truncated, false);
  assert.equal(parsed.value.id, 0x1234);
});

test('dns: CNAME chain resolves to the name the client asked for, with the smallest TTL', () => {
  const question = 'www.shop.test';
  const questionBytes = encodeName(question).length + 4;
  const firstAnswerOffset = 12 + questionBytes;
  const cname1 = record({ pointer: 12 }, 5, 3600, encodeName('edge.cdn.test'));
  // The CNAME target starts after owner pointer (2) + fixed fields (10).
  const targetOffset = firstAnswerOffset + 2 + 10;
  const cname2 = record({ pointer: targetOffset }, 5, 120, encodeName('e1.cdn.test'));
  const secondTargetOffset = firstAnswerOffset + cname1.length + 2 + 10;
  const a = record({ pointer: secondTargetOffset }, 1, 60, [10, 0, 0, 7]);
  const aaaa = record({ pointer: secondTargetOffset }, 28, 30, [0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1]);
  const parsed = parseDnsResponse(message({ questions: [question], answers: [cname1, cname2, a, aaaa] }));
  assert.ok(parsed.ok, JSON.stringify(parsed));
  assert.deepEqual(resolutionsFor(parsed.value, { name: question, type: 1, class: 1 }), [
    { address: '10.0.0.7', family: 4, names: ['www.shop.test', 'edge.cdn.test', 'e1.cdn.test'], ttl: 60 },
  ]);
  assert.deepEqual(resolutionsFor(parsed.value, { name: question, type: 28, class: 1 }), [
    { address: '2001:db8::1', family: 6, names: ['www.shop.test', 'edge.cdn.test', 'e1.cdn.test'], ttl: 30 },
  ]);
});

test('dns: a low TTL on an alias caps the address TTL', () => {
  const cname = record('a.test', 5, 5, encodeName('b.test'));
  const a = record('b.test', 1, 900, [1, 2, 3, 4]);
  const parsed = parseDnsResponse(message({ questions: ['a.test'], answers: [cname, a] }));
  assert.ok(parsed.ok);
  assert.equal(resolutionsFor(parsed.value, parsed.value.questions[0]!)[0]!.ttl, 5);
});

test('dns: other record types and classes are skipped, not misread', () => {
  const mx = record('m.test', 15, 60, [0, 10, ...encodeName('mail.m.test')]);
  const chaos = [...encodeName('m.test'), ...u16(1), ...u16(3), ...u32(60), ...u16(4), 9, 9, 9, 9];
  const a = record('m.test', 1, 60, [5, 6, 7, 8]);
  const parsed = parseDnsResponse(message({ questions: ['m.test'], answers: [mx, chaos, a] }));
  assert.ok(parsed.ok);
  assert.deepEqual(
    parsed.value.answers.map((x) => x.data),
    ['5.6.7.8'],
  );
});

test('dns: a TTL with the top bit set counts as zero', () => {
  const parsed = parseDnsResponse(
    message({ questions: ['t.test'], answers: [record('t.test', 1, 0x80000001, [1, 1, 1, 1])] }),
  );
  assert.ok(parsed.ok);
  assert.equal(parsed.value.answers[0]!.ttl, 0);
});

test('dns: a capture cut short keeps the whole records and says it was truncated', () => {
  const full = message({
    questions: ['cut.test'],
    answers: [record('cut.test', 1, 60, [1, 1, 1, 1]), record('cut.test', 1, 60, [2, 2, 2, 2])],
  });
  for (let length = 12; length < full.length; length++) {
    const parsed = parseDnsResponse(full.subarray(0, length));
    assert.ok(parsed.ok, `length ${length}`);
    assert.equal(parsed.value.truncated, true, `length ${length}`);
    assert.ok(parsed.value.answers.length <= 1);
  }
  const parsed = parseDnsResponse(full);
  assert.ok(parsed.ok);
  assert.equal(parsed.value.answers.length, 2);
});

test('dns: queries, short input and non-standard opcodes are refused as values', () => {
  const query = parseDnsResponse(message({ flags: 0x0100, questions: ['q.test'], answers: [] }));
  assert.equal(query.ok ? null : query.error.kind, 'not-a-response');
  const short = parseDnsResponse(new Uint8Array(5));
  assert.equal(short.ok ? null : short.error.kind, 'too-short');
  const notify = parseDnsResponse(message({ flags: 0x8000 | (4 << 11), questions: [], answers: [] }));
  assert.equal(notify.ok ? null : notify.error.kind, 'not-a-response');
});

test('dns: pointer loops, forward pointers and wrong address lengths are malformed', () => {
  // The answer owner points at itself.
  const selfPointer = message({
    questions: [],
    answers: [[0xc0, 12, ...u16(1), ...u16(1), ...u32(1), ...u16(4), 1, 2, 3, 4]],
  });
  const loop = parseDnsResponse(selfPointer);
  assert.equal(loop.ok ? null : loop.error.kind, 'malformed');
  // A label followed by a pointer back to that label: a loop that only ever points backwards.
  const backLoopHeader = Uint8Array.from(message({ questions: [], answers: [] }));
  backLoopHeader[5] = 1;
  const backLoop = parseDnsResponse(Uint8Array.from([...backLoopHeader, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]));
  assert.equal(backLoop.ok ? null : backLoop.error.kind, 'malformed');
  const forward = parseDnsResponse(message({ questions: [{ pointer: 200 }], answers: [] }));
  assert.equal(forward.ok ? null : forward.error.kind, 'malformed');
  const badA = parseDnsResponse(message({ questions: [], answers: [record('x.test', 1, 1, [1, 2, 3])] }));
  assert.equal(badA.ok ? null : badA.error.kind, 'malformed');
  const badAaaa = parseDnsResponse(message({ questions: [], answers: [record('x.test', 28, 1, [1, 2, 3, 4])] }));
  assert.equal(badAaaa.ok ? null : badAaaa.error.kind, 'malformed');
});

test('dns: a name longer than 255 bytes is malformed; control bytes in labels are escaped', () => {
  const long = Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.');
  const parsed = parseDnsResponse(message({ questions: [long], answers: [] }));
  assert.equal(parsed.ok ? null : parsed.error.kind, 'malformed');
  const odd = Uint8Array.from([...message({ questions: [], answers: [] }).subarray(0, 12)]);
  odd[5] = 1; // one question
  const withControl = Uint8Array.from([...odd, 3, 0x61, 0x0a, 0x2e, 4, 0x74, 0x65, 0x73, 0x74, 0, 0, 1, 0, 1]);
  const control = parseDnsResponse(withControl);
  assert.ok(control.ok);
  assert.equal(control.value.questions[0]!.name, 'a\\010\\046.test');
});

test('dns: random and mutated input never throws', () => {
  const base = message({
    questions: ['fuzz.example.test'],
    answers: [record({ pointer: 12 }, 5, 60, encodeName('x.fuzz.test')), record('x.fuzz.test', 1, 60, [1, 2, 3, 4])],
  });
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let round = 0; round < 20000; round++) {
    const bytes = Uint8Array.from(base);
    const mutations = 1 + Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
    const cut = bytes.subarray(0, Math.floor(random() * (bytes.length + 1)));
    const parsed = parseDnsResponse(cut);
    if (parsed.ok) for (const question of parsed.value.questions) resolutionsFor(parsed.value, question);
    parseDnsQuery(cut);
  }
  for (let round = 0; round < 2000; round++) {
    const bytes = Uint8Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256));
    bytes[2] = bytes[2]! | 0x80;
    parseDnsResponse(bytes);
  }
});

test('dns: only records about the question, or on its CNAME chain, resolve it', () => {
  const response = (answers: number[][], type = 1): DnsResponse => {
    const parsed = parseDnsResponse(message({ questions: ['ask.test'], answers, type }));
    assert.ok(parsed.ok, JSON.stringify(parsed));
    return parsed.value;
  };
  const asked = { name: 'ask.test', type: 1, class: 1 };
  // An extra record about another name rides along: it names nothing.
  const extra = response([record('ask.test', 1, 60, [1, 1, 1, 1]), record('bank.test', 1, 60, [6, 6, 6, 6])]);
  assert.deepEqual(
    resolutionsFor(extra, asked).map((r) => [r.address, r.names]),
    [['1.1.1.1', ['ask.test']]],
  );
  // A CNAME from another name does not lead anywhere; one from the question does.
  const sideChain = response([
    record('other.test', 5, 60, encodeName('ask.test')),
    record('ask.test', 1, 60, [2, 2, 2, 2]),
  ]);
  assert.deepEqual(
    resolutionsFor(sideChain, asked).map((r) => r.names),
    [['ask.test']],
  );
  // A CNAME loop ends; an AAAA answer to an A question names nothing; other classes and types resolve nothing.
  const loop = response([
    record('ask.test', 5, 60, encodeName('b.test')),
    record('b.test', 5, 60, encodeName('ask.test')),
  ]);
  assert.deepEqual(resolutionsFor(loop, asked), []);
  const wrongType = response([record('ask.test', 28, 60, new Array(16).fill(1))]);
  assert.deepEqual(resolutionsFor(wrongType, asked), []);
  assert.deepEqual(resolutionsFor(extra, { ...asked, class: 3 }), []);
  assert.deepEqual(resolutionsFor(extra, { ...asked, type: 15 }), []);
  // ANY takes both families.
  const both = response(
    [record('ask.test', 1, 60, [3, 3, 3, 3]), record('ask.test', 28, 60, new Array(16).fill(0))],
    255,
  );
  assert.deepEqual(
    resolutionsFor(both, { ...asked, type: 255 }).map((r) => r.address),
    ['3.3.3.3', '::'],
  );
});

test('dns: a query is one standard question; anything else is refused as a value', () => {
  const query = parseDnsQuery(
    message({ id: 0xbeef, flags: 0x0100, questions: ['Www.Example.TEST'], answers: [], type: 28 }),
  );
  assert.deepEqual(query, {
    ok: true,
    value: { id: 0xbeef, question: { name: 'www.example.test', type: 28, class: 1 } },
  });
  const kinds = [
    parseDnsQuery(message({ flags: 0x8180, questions: ['a.test'], answers: [] })),
    parseDnsQuery(message({ flags: 4 << 11, questions: ['a.test'], answers: [] })),
    parseDnsQuery(message({ flags: 0x0100, questions: ['a.test', 'b.test'], answers: [] })),
    parseDnsQuery(message({ flags: 0x0100, questions: [], answers: [] })),
    parseDnsQuery(message({ flags: 0x0100, questions: ['a.test'], answers: [] }).subarray(0, 16)),
    parseDnsQuery(message({ flags: 0x0100, questions: [{ pointer: 12 }], answers: [] })),
  ].map((result) => (result.ok ? 'ok' : result.error.kind));
  assert.deepEqual(kinds, ['not-a-query', 'not-a-query', 'not-a-query', 'not-a-query', 'too-short', 'malformed']);
});
