// The kernel event decoder against records written field by field at the ABI's offsets: every
// field, including the ones it caches (address texts in a direct-mapped table, command names),
// the shared 0n, and IPv6 through the caller's formatter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PCL_EV_EXE,
  PCL_PATH_CUT,
  PCL_PROTO_TCP,
  pcl_dns_event as DNS,
  pcl_event as EV,
  pcl_exe_path as PATH,
  pcl_exe_record as EXE_RECORD,
  pcl_flow as FLOW,
  pcl_flow_record as RECORD,
} from '../../../native/abi.js';
import {
  DNS_EVENT_BYTES,
  EVENT_BYTES,
  EXE_RECORD_BYTES,
  EventDecoder,
  FLOW_RECORD_BYTES,
  visitFlowRecords,
} from '../../../native/event-layout.js';
import { formatIp } from '../../../main/contract/net.js';
import { tallyFlowOfRecord } from '../../../native/tally-layout.js';

const decoder = new EventDecoder({ formatV6: (bytes) => formatIp({ family: 6, bytes }) });
const decodeEvents = (buf: Buffer) => decoder.decode(buf);

interface Fields {
  timeNs?: bigint;
  cookie?: bigint;
  cgroupId?: bigint;
  bytesOut?: bigint;
  bytesIn?: bigint;
  packetsOut?: bigint;
  packetsIn?: bigint;
  tgid?: number;
  uid?: number;
  appId?: number;
  ruleId?: number;
  local?: number[];
  remote?: number[];
  localPort?: number;
  remotePort?: number;
  kind?: number;
  protocol?: number;
  direction?: number;
  verdict?: number;
  comm?: string;
  exe?: { dev: bigint; ino: bigint };
}

function record(f: Fields): Buffer {
  const b = Buffer.alloc(EVENT_BYTES);
  b.writeBigUInt64LE(f.timeNs ?? 1n, EV.time_ns);
  b.writeBigUInt64LE(f.cookie ?? 0n, EV.cookie);
  b.writeBigUInt64LE(f.cgroupId ?? 0n, EV.cgroup_id);
  b.writeBigUInt64LE(f.bytesOut ?? 0n, EV.bytes_out);
  b.writeBigUInt64LE(f.bytesIn ?? 0n, EV.bytes_in);
  b.writeBigUInt64LE(f.packetsOut ?? 0n, EV.packets_out);
  b.writeBigUInt64LE(f.packetsIn ?? 0n, EV.packets_in);
  b.writeUInt32LE(f.tgid ?? 0, EV.tgid);
  b.writeUInt32LE(f.uid ?? 0, EV.uid);
  b.writeUInt32LE(f.appId ?? 0, EV.app_id);
  b.writeUInt32LE(f.ruleId ?? 0, EV.rule_id);
  const remote = f.remote ?? [10, 0, 0, 1];
  b.set(f.local ?? [127, 0, 0, 1], EV.local_addr);
  b.set(remote, EV.remote_addr);
  b.writeUInt16LE(f.localPort ?? 0, EV.local_port);
  b.writeUInt16LE(f.remotePort ?? 0, EV.remote_port);
  b.writeUInt8(f.kind ?? 1, EV.kind);
  b.writeUInt8(remote.length === 16 ? 6 : 4, EV.family);
  b.writeUInt8(f.protocol ?? 6, EV.protocol);
  b.writeUInt8(f.direction ?? 1, EV.direction);
  b.writeUInt8(f.verdict ?? 1, EV.verdict);
  b.write(f.comm ?? 'curl', EV.comm, 16, 'utf8');
  if (f.exe) {
    b.writeBigUInt64LE(f.exe.dev, EV.exe);
    b.writeBigUInt64LE(f.exe.ino, EV.exe + 8);
  }
  return b;
}

/** The record the event thread puts before an executable's first event in a batch. */
function exeRecord(exe: { dev: bigint; ino: bigint }, path: string, cut = false): Buffer {
  const b = Buffer.alloc(EXE_RECORD_BYTES);
  b.writeUInt8(PCL_EV_EXE, EXE_RECORD.head + EV.kind);
  b.writeBigUInt64LE(exe.dev, EXE_RECORD.head + EV.exe);
  b.writeBigUInt64LE(exe.ino, EXE_RECORD.head + EV.exe + 8);
  b.writeUInt16LE(Buffer.byteLength(path), EXE_RECORD.path + PATH.len);
  b.writeUInt8(cut ? PCL_PATH_CUT : 0, EXE_RECORD.path + PATH.flags);
  b.write(path, EXE_RECORD.path + PATH.path, 'utf8');
  return b;
}

const FIREFOX = { dev: (8n << 20n) | 1n, ino: 2n ** 40n + 5n };

test('decode: every field of a connect and a close, large values exact', () => {
  const [connect, close] = decodeEvents(
    Buffer.concat([
      exeRecord(FIREFOX, '/usr/lib/firefox-esr/firefox-esr'),
      record({
        timeNs: 123_456_789_012_345n,
        cookie: 2n ** 60n + 7n,
        cgroupId: 99n,
        tgid: 4_000_000_000,
        uid: 1000,
        appId: 7,
        ruleId: 3_000_000_000,
        local: [192, 168, 1, 2],
        remote: [203, 0, 113, 9],
        localPort: 51000,
        remotePort: 443,
        verdict: 2,
        comm: 'firefox-esr',
        exe: FIREFOX,
      }),
      record({
        kind: 5,
        cookie: 5n,
        bytesOut: 2n ** 40n,
        bytesIn: 1n,
        packetsOut: 0n,
        packetsIn: 2n ** 64n - 1n,
        direction: 2,
        protocol: 17,
        comm: 'dig',
      }),
    ]),
  );
  assert.deepEqual(connect, {
    timeNs: 123_456_789_012_345n,
    socketCookie: 2n ** 60n + 7n,
    cgroupId: 99n,
    exe: { ...FIREFOX, path: '/usr/lib/firefox-esr/firefox-esr', pathCut: false },
    bytesOut: 0n,
    bytesIn: 0n,
    packetsOut: 0n,
    packetsIn: 0n,
    tgid: 4_000_000_000,
    uid: 1000,
    appId: 7,
    ruleId: 3_000_000_000,
    localAddr: '192.168.1.2',
    remoteAddr: '203.0.113.9',
    localPort: 51000,
    remotePort: 443,
    kind: 'connect',
    family: 4,
    protocol: 'tcp',
    direction: 'out',
    verdict: 'block',
    comm: 'firefox-esr',
  });
  assert.deepEqual([close!.kind, close!.protocol, close!.direction, close!.verdict], ['close', 'udp', 'in', 'allow']);
  assert.deepEqual(
    [close!.bytesOut, close!.bytesIn, close!.packetsOut, close!.packetsIn],
    [2n ** 40n, 1n, 0n, 2n ** 64n - 1n],
  );
  assert.equal(close!.comm, 'dig');
  assert.equal(close!.exe, null, 'no executable: a socket that predates the programs');
});

test('decode: executables keep the path of their latest record; one with no record has none', () => {
  const other = { dev: 2049n, ino: 77n };
  const [first, second, third] = decodeEvents(
    Buffer.concat([
      record({ exe: other }),
      exeRecord(FIREFOX, '/opt/a/very/long/pa', true),
      record({ exe: FIREFOX }),
      exeRecord(FIREFOX, '/opt/firefox'),
      record({ exe: FIREFOX }),
    ]),
  );
  assert.deepEqual(first!.exe, { ...other, path: null, pathCut: false });
  assert.deepEqual(second!.exe, { ...FIREFOX, path: '/opt/a/very/long/pa', pathCut: true });
  assert.deepEqual(third!.exe, { ...FIREFOX, path: '/opt/firefox', pathCut: false });
});

test('decode: cached texts never answer for other bytes (colliding IPv4 slots, a reused tgid with a new name, IPv6)', () => {
  // Every address of 10.0.x.y over 20k values: a direct-mapped table of 16k slots must collide.
  const addresses: number[][] = [];
  for (let i = 0; i < 20_000; i++) addresses.push([10, 0, (i >> 8) & 255, i & 255]);
  const pass = () =>
    decodeEvents(Buffer.concat(addresses.map((remote) => record({ remote })))).map((e) => e.remoteAddr);
  const expected = addresses.map((a) => a.join('.'));
  assert.deepEqual(pass(), expected);
  assert.deepEqual(pass(), expected, 'second pass, from the cache');

  const names = decodeEvents(
    Buffer.concat([
      record({ tgid: 42, comm: 'bash' }),
      record({ tgid: 42, comm: 'curl' }),
      record({ tgid: 42, comm: 'bash' }),
      record({ comm: 'python3.11-venv' }),
      record({ comm: 'python3.11-venw' }),
      record({ comm: 'émoji-é' }),
    ]),
  );
  assert.deepEqual(
    names.map((e) => e.comm),
    ['bash', 'curl', 'bash', 'python3.11-venv', 'python3.11-venw', 'émoji-é'],
  );

  const v6 = (last: number) => [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last];
  const six = decodeEvents(
    Buffer.concat([record({ remote: v6(1), local: v6(2) }), record({ remote: v6(2), local: v6(1) })]),
  );
  assert.deepEqual(
    six.map((e) => [e.family, e.remoteAddr, e.localAddr]),
    [
      [6, '2001:db8::1', '2001:db8::2'],
      [6, '2001:db8::2', '2001:db8::1'],
    ],
  );
});

test('decode: DNS answer and query records carry their payload; a truncated one ends the batch', () => {
  const dns = Buffer.alloc(DNS_EVENT_BYTES);
  record({ kind: 6, protocol: 17, direction: 2, remotePort: 53 }).copy(dns);
  dns.writeUInt16LE(3, DNS.len);
  dns.set([1, 2, 3, 4], DNS.data);
  const query = Buffer.from(dns);
  query[EV.kind] = 7;
  query.writeUInt16LE(2, DNS.len);
  const events = decodeEvents(Buffer.concat([query, dns, record({}), dns.subarray(0, DNS.data + 2)]));
  assert.equal(events.length, 3);
  assert.deepEqual(
    events.map((e) => [e.kind, e.dnsPayload && [...e.dnsPayload]]),
    [
      ['dns-query', [1, 2]],
      ['dns', [1, 2, 3]],
      ['connect', undefined],
    ],
  );
});

test('socket totals records are walked as numbers (cookies past 2^53 stay exact bigints)', () => {
  const b = Buffer.alloc(FLOW_RECORD_BYTES * 3);
  const at = (i: number, field: number) => i * FLOW_RECORD_BYTES + field;
  b.writeBigUInt64LE(9n, at(0, RECORD.cookie));
  b.writeBigUInt64LE(2n ** 53n + 1n, at(0, RECORD.flow + FLOW.bytes_out));
  b.writeBigUInt64LE(2n ** 53n - 1n, at(1, RECORD.cookie));
  b.writeBigUInt64LE(4n, at(1, RECORD.flow + FLOW.packets_in));
  b.writeBigUInt64LE(2n ** 53n, at(2, RECORD.cookie));
  b.writeBigUInt64LE(123_456_789_012n, at(2, RECORD.flow + FLOW.bytes_in));
  // The second socket was tallied: its record names its flow.
  b.writeUInt32LE(7, at(1, RECORD.flow + FLOW.tally_app_id));
  b.writeUInt32LE(3, at(1, RECORD.flow + FLOW.rule_id));
  b.writeUInt16LE(443, at(1, RECORD.flow + FLOW.remote_port));
  b[at(1, RECORD.flow + FLOW.proto)] = PCL_PROTO_TCP;
  b[at(1, RECORD.flow + FLOW.family)] = 6;
  b[at(1, RECORD.flow + FLOW.remote + 15)] = 1;
  const walked: unknown[] = [];
  visitFlowRecords(b, (...record) => walked.push(record));
  assert.deepEqual(walked, [
    [9, Number(2n ** 53n + 1n), 0, 0, 0, 0],
    [Number.MAX_SAFE_INTEGER, 0, 0, 0, 4, FLOW_RECORD_BYTES],
    [2n ** 53n, 0, 123_456_789_012, 0, 0, 2 * FLOW_RECORD_BYTES],
  ]);
  const decoding = { formatV6: (bytes: Uint8Array) => formatIp({ family: 6, bytes }) };
  assert.equal(tallyFlowOfRecord(b, 0, decoding), null);
  assert.deepEqual(tallyFlowOfRecord(b, FLOW_RECORD_BYTES, decoding), {
    appId: 7,
    ruleId: 3,
    remoteAddr: '::1',
    remotePort: 443,
    protocol: 'tcp',
  });
});
