// The kernel's rule maps as the compiler writes them (bpf/portcullis.h, through the generated ABI):
// sizes of keys, entries and clause sets, the codes of actions, protocols and directions, and which
// map holds what.
import * as abi from '../abi.js';
import type { KernelAction, KernelDirection, KernelProtocol } from '../api.js';

export const MAX_CLAUSES = abi.PCL_MAX_CLAUSES;
export const CLAUSE_BYTES = abi.pcl_clause.SIZE;
export const SET_BYTES = abi.pcl_clause_set.SIZE;
export const ENTRY_BYTES = abi.pcl_entry.SIZE;
export const NO_SET = abi.PCL_NO_SET;
export const BUCKET_KEY_BYTES = abi.pcl_bucket6_key.SIZE;
export const BUCKET_BYTES = abi.pcl_bucket6.SIZE;
/** pcl_config.v6_split's bound: a bucket key holds an address's first 64 bits. */
export const V6_SPLIT_MAX = abi.PCL_V6_SPLIT_MAX;

export const ACTION_CODE: Record<KernelAction, number> = { allow: abi.PCL_ACT_ALLOW, block: abi.PCL_ACT_BLOCK };
/** The global default's codes: a rule's actions, or ask mode's (no rule decides: hold the flow). */
export const DEFAULT_CODE: Record<KernelAction | 'ask', number> = { ...ACTION_CODE, ask: abi.PCL_ACT_ASK };

/**
 * An app's pcl_app_dflt value: its default action (PCL_ACT_NONE: none of its own), and whether it
 * has rules of its own; the kernel looks up the app's scope only then, not for every app's every
 * decision.
 */
export function appInfo(action: KernelAction | undefined, hasRules: boolean): number {
  return (action === undefined ? abi.PCL_ACT_NONE : ACTION_CODE[action]) | (hasRules ? abi.PCL_APP_HAS_RULES : 0);
}

export const PROTOCOL_CODE: Record<KernelProtocol, number> = {
  any: abi.PCL_PROTO_ANY,
  icmp: abi.PCL_PROTO_ICMP,
  tcp: abi.PCL_PROTO_TCP,
  udp: abi.PCL_PROTO_UDP,
};
export const DIRECTION_CODE: Record<KernelDirection, number> = {
  out: abi.PCL_DIR_OUT,
  in: abi.PCL_DIR_IN,
  both: abi.PCL_DIR_BOTH,
};

/** The maps holding entries (struct pcl_entry values), by key kind. */
export type EntryMap = 'v4Exact' | 'v6Exact' | 'v4Lpm' | 'v6Lpm' | 'v6Prefix';
export const ENTRY_MAPS: readonly EntryMap[] = ['v4Exact', 'v6Exact', 'v4Lpm', 'v6Lpm', 'v6Prefix'];
export const KEY_BYTES: Record<EntryMap, number> = {
  v4Exact: abi.pcl_exact4_key.SIZE,
  v6Exact: abi.pcl_exact6_key.SIZE,
  v4Lpm: abi.pcl_lpm4_key.SIZE,
  v6Lpm: abi.pcl_lpm6_key.SIZE,
  v6Prefix: abi.pcl_prefix6_key.SIZE,
};
/** Every map of a ruleset the kernel holds entries in, for counts and capacities. */
export type RuleMap = EntryMap | 'v6Buckets';

/** How an entry key is laid out: {scope, addr}, {32 + prefix, scope, addr} or {scope, prefix, addr}. */
export type KeyLayout = 'exact' | 'lpm' | 'prefix';
export const KEY_LAYOUT: Record<EntryMap, KeyLayout> = {
  v4Exact: 'exact',
  v6Exact: 'exact',
  v4Lpm: 'lpm',
  v6Lpm: 'lpm',
  v6Prefix: 'prefix',
};

/*
 * Entries and keys are written as u32 words in field order (entry-writer.ts), bucket bitmaps as two
 * u64s (v6-buckets.ts). The layouts that assumes, checked against the generated ABI by the
 * typecheck: a change of portcullis.h that moves a field fails there instead of writing wrong bytes.
 */
const _entry: { rule_id: 0; set_id: 4; port_lo: 8; port_hi: 10; proto: 12; dir: 13; action: 14; SIZE: 16 } =
  abi.pcl_entry;
const _exact4: { scope: 0; addr: 4 } = abi.pcl_exact4_key;
const _exact6: { scope: 0; addr: 4 } = abi.pcl_exact6_key;
const _lpm4: { prefixlen: 0; scope: 4; addr: 8 } = abi.pcl_lpm4_key;
const _lpm6: { prefixlen: 0; scope: 4; addr: 8 } = abi.pcl_lpm6_key;
const _prefix6: { scope: 0; prefixlen: 4; addr: 8 } = abi.pcl_prefix6_key;
const _bucket: { lens: 0; SIZE: 16 } = abi.pcl_bucket6;
