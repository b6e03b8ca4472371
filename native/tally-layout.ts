// Decodes what the kernel tallies instead of recording (bpf/portcullis.h, struct pcl_tally_key):
// the pcl_tally_record records drainTally returns, and the flow a tallied socket's pcl_flows record
// names (its tally_* fields), at the offsets of the generated ABI.
import * as abi from './abi.js';
import type { EventDecoding, TallyCount, TalliedFlow } from './api.js';
import { FLOW_RECORD_BYTES, PROTOCOLS, u64Number } from './event-layout.js';

export const TALLY_RECORD_BYTES = abi.pcl_tally_record.SIZE;

const KEY = abi.pcl_tally_record.key;
const COUNTS = abi.pcl_tally_record.counts;
const FLOW = abi.pcl_flow_record.flow;

/** Where a flow's fields are in a record: a tally key's, or a pcl_flows record's tally_* fields. */
interface FlowFields {
  appId: number;
  ruleId: number;
  remotePort: number;
  proto: number;
  family: number;
  remote: number;
}

/** The fields of a flow at `base`: its app id at `appId`, the rest named alike in both layouts. */
const flowFields = (
  base: number,
  appId: number,
  layout: { rule_id: number; remote_port: number; proto: number; family: number; remote: number },
): FlowFields => ({
  appId: base + appId,
  ruleId: base + layout.rule_id,
  remotePort: base + layout.remote_port,
  proto: base + layout.proto,
  family: base + layout.family,
  remote: base + layout.remote,
});

const TALLY_KEY_FIELDS = flowFields(KEY, abi.pcl_tally_key.app_id, abi.pcl_tally_key);
const FLOW_RECORD_FIELDS = flowFields(FLOW, abi.pcl_flow.tally_app_id, abi.pcl_flow);

function flowAt(buf: Buffer, at: number, fields: FlowFields, decoding: EventDecoding): TalliedFlow {
  const remote = at + fields.remote;
  const remoteAddr =
    buf[at + fields.family] === 6
      ? decoding.formatV6(Uint8Array.prototype.slice.call(buf, remote, remote + 16))
      : `${buf[remote]}.${buf[remote + 1]}.${buf[remote + 2]}.${buf[remote + 3]}`;
  return {
    appId: buf.readUInt32LE(at + fields.appId),
    ruleId: buf.readUInt32LE(at + fields.ruleId),
    remoteAddr,
    remotePort: buf.readUInt16LE(at + fields.remotePort),
    protocol: PROTOCOLS[buf[at + fields.proto]!] ?? 'other',
  };
}

/** The records drainTally returns, one per tallied flow. */
export function decodeTallyRecords(buf: Buffer, decoding: EventDecoding): TallyCount[] {
  const counts: TallyCount[] = [];
  for (let at = 0; at + TALLY_RECORD_BYTES <= buf.length; at += TALLY_RECORD_BYTES) {
    const c = at + COUNTS;
    counts.push({
      ...flowAt(buf, at, TALLY_KEY_FIELDS, decoding),
      connections: u64Number(buf, c + abi.pcl_tally_counts.connections),
      bytesOut: u64Number(buf, c + abi.pcl_tally_counts.bytes_out),
      bytesIn: u64Number(buf, c + abi.pcl_tally_counts.bytes_in),
      packetsOut: u64Number(buf, c + abi.pcl_tally_counts.packets_out),
      packetsIn: u64Number(buf, c + abi.pcl_tally_counts.packets_in),
      lastNs: buf.readBigUInt64LE(c + abi.pcl_tally_counts.last_ns),
    });
  }
  return counts;
}

/**
 * The flow of the pcl_flows record at `at` (readFlows' records) when its socket was tallied (user
 * space heard no decision of it), else null.
 */
export function tallyFlowOfRecord(buf: Buffer, at: number, decoding: EventDecoding): TalliedFlow | null {
  if (at + FLOW_RECORD_BYTES > buf.length || buf.readUInt32LE(at + FLOW_RECORD_FIELDS.appId) === 0) return null;
  return flowAt(buf, at, FLOW_RECORD_FIELDS, decoding);
}
