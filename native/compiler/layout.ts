// The kernel's rule maps as the compiler writes them (bpf/portcullis.h): sizes of keys, entries
// and clause sets, the codes of actions, protocols and directions, and which map holds what.
import type { KernelAction, KernelDirection, KernelProtocol } from '../api.js';

export const MAX_CLAUSES = 16;
export const CLAUSE_BYTES = 12;
export const SET_BYTES = 8 + MAX_CLAUSES * CLAUSE_BYTES;
export const ENTRY_BYTES = 16;
export const NO_SET = 0xffffffff;
export const BUCKET_KEY_BYTES = 16;
export const BUCKET_BYTES = 16;
/** pcl_config.v6_split's bound (PCL_V6_SPLIT_MAX): a bucket key holds an address's first 64 bits. */
export const V6_SPLIT_MAX = 64;

export const ACTION_CODE: Record<KernelAction, number> = { allow: 1, block: 2 };
export const PROTOCOL_CODE: Record<KernelProtocol, number> = { any: 0, icmp: 1, tcp: 6, udp: 17 };
export const DIRECTION_CODE: Record<KernelDirection, number> = { out: 1, in: 2, both: 3 };

/** The maps holding entries (struct pcl_entry values), by key kind. */
export type EntryMap = 'v4Exact' | 'v6Exact' | 'v4Lpm' | 'v6Lpm' | 'v6Prefix';
export const ENTRY_MAPS: readonly EntryMap[] = ['v4Exact', 'v6Exact', 'v4Lpm', 'v6Lpm', 'v6Prefix'];
export const KEY_BYTES: Record<EntryMap, number> = { v4Exact: 8, v6Exact: 20, v4Lpm: 12, v6Lpm: 24, v6Prefix: 24 };
/** Every map of a ruleset the kernel holds entries in, for counts and capacities. */
export type RuleMap = EntryMap | 'v6Buckets';

/** How an entry key is laid out: {scope, addr}, {32 + prefix, scope, addr} or {scope, prefix, addr}. */
export type KeyLayout = 'exact' | 'lpm' | 'prefix';
export const KEY_LAYOUT: Record<EntryMap, KeyLayout> = { v4Exact: 'exact', v6Exact: 'exact', v4Lpm: 'lpm', v6Lpm: 'lpm', v6Prefix: 'prefix' };
