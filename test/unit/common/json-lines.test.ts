import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineSplitter } from '../../../main/common/json-lines.js';

test('lines split across chunks are joined; several lines in one chunk come out in order', () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(splitter.push(Buffer.from('{"a":')), []);
  assert.deepEqual(splitter.push(Buffer.from('1}\n{"b":2}\n{"c"')), [
    { kind: 'line', text: '{"a":1}' },
    { kind: 'line', text: '{"b":2}' },
  ]);
  assert.deepEqual(splitter.push(Buffer.from(':3}\n')), [{ kind: 'line', text: '{"c":3}' }]);
});

test('a multi-byte character split between chunks decodes whole', () => {
  const splitter = new LineSplitter(100);
  const bytes = Buffer.from('"ü"\n');
  assert.deepEqual(splitter.push(bytes.subarray(0, 2)), []);
  assert.deepEqual(splitter.push(bytes.subarray(2)), [{ kind: 'line', text: '"ü"' }]);
});

test('invalid UTF-8 is reported for that line only', () => {
  const splitter = new LineSplitter(100);
  const out = splitter.push(Buffer.concat([Buffer.from([0xff, 0xfe, 0x0a]), Buffer.from('ok\n')]));
  assert.deepEqual(out, [
    { kind: 'invalid-utf8', bytes: 2 },
    { kind: 'line', text: 'ok' },
  ]);
});

test('a line longer than the bound is reported, with or without its newline yet', () => {
  assert.deepEqual(new LineSplitter(10).push(Buffer.from('x'.repeat(11))), [{ kind: 'too-long', limit: 10 }]);
  const splitter = new LineSplitter(10);
  assert.deepEqual(splitter.push(Buffer.from('x'.repeat(6))), []);
  assert.deepEqual(splitter.push(Buffer.from('x'.repeat(6) + '\n')), [{ kind: 'too-long', limit: 10 }]);
  assert.deepEqual(new LineSplitter(10).push(Buffer.from('x'.repeat(10) + '\n')), [
    { kind: 'line', text: 'x'.repeat(10) },
  ]);
});
