// Ask mode's records between the facade and the addon (bpf/portcullis.h "Ask mode"): held flows
// read as struct pcl_hold_record, answers written as struct pcl_hold_answer, keys as struct
// pcl_hold_key, and flows to decide as struct pcl_decide_query, at the generated ABI's offsets.
import * as abi from './abi.js';
import type {
  DecideQuery,
  EventDecoding,
  ExecutableIdentity,
  HeldFlow,
  HoldAnswer,
  HoldRef,
  KernelDecision,
} from './api.js';

const KEY = abi.pcl_hold_key;
const HOLD = abi.pcl_hold;
const RECORD = abi.pcl_hold_record;
const ANSWER = abi.pcl_hold_answer;
const QUERY = abi.pcl_decide_query;

const PROTOCOL_CODE = { tcp: abi.PCL_PROTO_TCP, udp: abi.PCL_PROTO_UDP } as const;
const VERDICT_CODE = { allow: abi.PCL_ACT_ALLOW, block: abi.PCL_ACT_BLOCK } as const;
const DECISIONS: Record<number, KernelDecision> = {
  [abi.PCL_ACT_ALLOW]: 'allow',
  [abi.PCL_ACT_BLOCK]: 'block',
  [abi.PCL_ACT_ASK]: 'ask',
};

function checkAddress(family: 4 | 6, bytes: Uint8Array, what: string): void {
  if (bytes.length !== (family === 4 ? 4 : 16))
    throw new RangeError(`${what}: an IPv${family} address is ${family === 4 ? 4 : 16} bytes, got ${bytes.length}`);
}

/** A held flow's pcl_holds key: a TCP socket by its cookie alone, a UDP flow with its remote. */
function writeKey(buf: Buffer, at: number, ref: HoldRef): void {
  buf.writeBigUInt64LE(ref.cookie, at + KEY.cookie);
  buf[at + KEY.proto] = PROTOCOL_CODE[ref.protocol];
  if (ref.protocol === 'tcp') return;
  checkAddress(ref.family, ref.remote, 'hold key');
  buf.set(ref.remote, at + KEY.remote);
  buf.writeUInt16LE(ref.remotePort, at + KEY.remote_port);
  buf[at + KEY.family] = ref.family;
}

export function encodeHoldKeys(refs: readonly HoldRef[]): Buffer {
  const buf = Buffer.alloc(refs.length * KEY.SIZE);
  refs.forEach((ref, i) => writeKey(buf, i * KEY.SIZE, ref));
  return buf;
}

export function encodeHoldAnswers(answers: readonly HoldAnswer[]): Buffer {
  const buf = Buffer.alloc(answers.length * ANSWER.SIZE);
  answers.forEach(({ ref, verdict }, i) => {
    const at = i * ANSWER.SIZE;
    writeKey(buf, at + ANSWER.key, ref);
    buf[at + ANSWER.verdict] = VERDICT_CODE[verdict];
  });
  return buf;
}

export function encodeDecideQueries(queries: readonly DecideQuery[]): Buffer {
  const buf = Buffer.alloc(queries.length * QUERY.SIZE);
  queries.forEach((query, i) => {
    const at = i * QUERY.SIZE;
    checkAddress(query.family, query.remote, 'decide query');
    buf[at + QUERY.family] = query.family;
    buf[at + QUERY.proto] = PROTOCOL_CODE[query.protocol];
    buf.writeUInt16LE(query.remotePort, at + QUERY.remote_port);
    buf.writeUInt32LE(query.appId, at + QUERY.app_id);
    buf.set(query.remote, at + QUERY.remote);
    buf.writeUInt32LE(query.claimId, at + QUERY.claim_id);
  });
  return buf;
}

export function decodeDecisions(actions: Uint8Array): KernelDecision[] {
  return Array.from(actions, (code) => DECISIONS[code] ?? 'none');
}

function text(buf: Buffer, at: number, length: number): string {
  let end = at;
  while (end < at + length && buf[end] !== 0) end++;
  return buf.toString('utf8', at, end);
}

/** The owner's executable from a pcl_exe_key; null when zero (unknown). */
function executable(buf: Buffer, at: number): ExecutableIdentity | null {
  const dev = buf.readBigUInt64LE(at);
  const ino = buf.readBigUInt64LE(at + 8);
  return dev === 0n && ino === 0n ? null : { dev, ino, path: null, pathCut: false };
}

/** The records readHolds returns; IPv6 addresses through the caller's formatter. */
export function decodeHeldFlows(buf: Buffer, decoding: EventDecoding): HeldFlow[] {
  const flows: HeldFlow[] = [];
  for (let at = 0; at + RECORD.SIZE <= buf.length; at += RECORD.SIZE) {
    const hold = at + RECORD.hold;
    const family = buf[hold + HOLD.family] === 6 ? 6 : 4;
    const length = family === 4 ? 4 : 16;
    const address = (offset: number) => {
      const bytes = Uint8Array.prototype.slice.call(buf, hold + offset, hold + offset + length);
      return { bytes, text: family === 4 ? bytes.join('.') : decoding.formatV6(bytes) };
    };
    const protocol = buf[at + RECORD.key + KEY.proto] === abi.PCL_PROTO_UDP ? 'udp' : 'tcp';
    const remote = address(HOLD.remote);
    const remotePort = buf.readUInt16LE(hold + HOLD.remote_port);
    const answer = buf[at + RECORD.answer];
    flows.push({
      ref: {
        cookie: buf.readBigUInt64LE(at + RECORD.key + KEY.cookie),
        protocol,
        family,
        remote: remote.bytes,
        remotePort,
      },
      heldAtNs: buf.readBigUInt64LE(hold + HOLD.time_ns),
      cgroupId: buf.readBigUInt64LE(hold + HOLD.cgroup_id),
      tgid: buf.readUInt32LE(hold + HOLD.tgid),
      uid: buf.readUInt32LE(hold + HOLD.uid),
      appId: buf.readUInt32LE(hold + HOLD.app_id),
      claimId: buf.readUInt32LE(hold + HOLD.claim_id),
      exe: executable(buf, hold + HOLD.exe),
      comm: text(buf, hold + HOLD.comm, abi.PCL_COMM_LEN),
      family,
      remoteAddr: remote.text,
      remotePort,
      localAddr: address(HOLD.local).text,
      localPort: buf.readUInt16LE(hold + HOLD.local_port),
      dropped: buf.readUInt32LE(hold + HOLD.dropped),
      answer: answer === abi.PCL_ACT_ALLOW ? 'allow' : answer === abi.PCL_ACT_BLOCK ? 'block' : null,
    });
  }
  return flows;
}
