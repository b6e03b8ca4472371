// The connection list as rows: an app header, then (when expanded or searching) its remotes.
// Pure, so it is tested directly and benchmarked at 100k flows.
import type { App, Flow } from '../../main/contract/domain';
import type { AppGroup } from './flow-groups';

export type SortKey = 'recent' | 'name' | 'traffic' | 'blocked';
export type VerdictFilter = 'all' | 'allowed' | 'blocked';

export interface RowFilter {
  text: string;
  verdict: VerdictFilter;
  appId: number | null;
}

export type Row =
  | { kind: 'app'; app: App; group: AppGroup; shown: number; expanded: boolean }
  | { kind: 'flow'; app: App; flow: Flow };

/**
 * The rows, without making one object per row: an app header and its (sorted) flows form a segment,
 * and a row is made only when the list asks for it (the few in view). Building is then linear in
 * apps, not flows, and a keystroke over 100k flows allocates next to nothing.
 */
export class RowList {
  private readonly starts: number[] = [];
  private readonly segments: Array<{ app: App; group: AppGroup; shown: number; expanded: boolean; flows: Flow[] }> = [];
  length = 0;

  add(app: App, group: AppGroup, shown: number, expanded: boolean, flows: Flow[]): void {
    this.starts.push(this.length);
    this.segments.push({ app, group, shown, expanded, flows });
    this.length += 1 + (expanded ? flows.length : 0);
  }

  at(index: number): Row | undefined {
    if (index < 0 || index >= this.length) return undefined;
    // The last segment starting at or before index.
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if (this.starts[mid]! <= index) low = mid;
      else high = mid - 1;
    }
    const segment = this.segments[low]!;
    const offset = index - this.starts[low]!;
    if (offset === 0)
      return { kind: 'app', app: segment.app, group: segment.group, shown: segment.shown, expanded: segment.expanded };
    return { kind: 'flow', app: segment.app, flow: segment.flows[offset - 1]! };
  }

  toArray(): Row[] {
    return Array.from({ length: this.length }, (_, index) => this.at(index)!);
  }
}

export interface RowsResult {
  rows: RowList;
  appCount: number;
  flowCount: number;
}

const flowSorters: Record<SortKey, (a: Flow, b: Flow) => number> = {
  recent: (a, b) => b.lastSeen - a.lastSeen,
  name: (a, b) =>
    (a.remoteName ?? a.remoteAddr).localeCompare(b.remoteName ?? b.remoteAddr) || a.remotePort - b.remotePort,
  traffic: (a, b) => b.bytesIn + b.bytesOut - (a.bytesIn + a.bytesOut),
  blocked: (a, b) => b.blocked - a.blocked || b.lastSeen - a.lastSeen,
};

const appSorters: Record<SortKey, (a: { app: App; group: AppGroup }, b: { app: App; group: AppGroup }) => number> = {
  recent: (a, b) => b.group.lastSeen - a.group.lastSeen,
  name: (a, b) => a.app.name.localeCompare(b.app.name),
  traffic: (a, b) => b.group.bytesIn + b.group.bytesOut - (a.group.bytesIn + a.group.bytesOut),
  blocked: (a, b) => b.group.blocked - a.group.blocked || b.group.lastSeen - a.group.lastSeen,
};

// Sorted flows per group, reused until the group changes or the sort does.
const sortedCache = new WeakMap<AppGroup, { version: number; sort: SortKey; flows: Flow[] }>();

function sortedFlows(group: AppGroup, sort: SortKey): Flow[] {
  const cached = sortedCache.get(group);
  if (cached && cached.version === group.version && cached.sort === sort) return cached.flows;
  const flows = [...group.flows.values()].sort(flowSorters[sort]);
  sortedCache.set(group, { version: group.version, sort, flows });
  return flows;
}

function appMatches(app: App, needle: string): boolean {
  return (
    app.name.toLowerCase().includes(needle) ||
    (app.exe?.toLowerCase().includes(needle) ?? false) ||
    (app.identifier?.toLowerCase().includes(needle) ?? false)
  );
}

// What a search looks at in a flow, lowercased once per flow object (flows are replaced, never
// mutated, so the cache never goes stale). Keeps a keystroke over 100k flows in the tens of ms.
const searchText = new WeakMap<Flow, string>();

function flowText(flow: Flow): string {
  let text = searchText.get(flow);
  if (text === undefined) {
    text = flow.remoteName ? `${flow.remoteAddr} ${flow.remoteName.toLowerCase()}` : flow.remoteAddr;
    searchText.set(flow, text);
  }
  return text;
}

function verdictMatches(flow: Flow, verdict: VerdictFilter): boolean {
  return verdict === 'all' || (verdict === 'blocked' ? flow.blocked > 0 : flow.allowed > 0);
}

// The last search's matches per group. Typing narrows a search ("exa" → "exam"): every flow that
// matches the longer text matched the shorter one, so only those are looked at again, unless the
// group changed since. Port searches ("44" → "443") do not narrow that way and start afresh.
interface LastSearch {
  needle: string;
  sort: SortKey;
  verdict: VerdictFilter;
  appId: number | null;
  groups: WeakMap<AppGroup, { version: number; flows: Flow[] | null }>;
}
let lastSearch: LastSearch | null = null;

export function buildRows(
  apps: Map<number, App>,
  groups: Map<number, AppGroup>,
  filter: RowFilter,
  sort: SortKey,
  expanded: ReadonlySet<number>,
): RowsResult {
  const needle = filter.text.trim().toLowerCase();
  const port = /^[0-9]{1,5}$/.test(needle) ? Number(needle) : -1;
  const previous = lastSearch;
  const narrowing =
    previous !== null &&
    port === -1 &&
    previous.needle !== '' &&
    needle.startsWith(previous.needle) &&
    previous.verdict === filter.verdict &&
    previous.appId === filter.appId &&
    previous.sort === sort;
  const search: LastSearch = { needle, sort, verdict: filter.verdict, appId: filter.appId, groups: new WeakMap() };
  const candidates: Array<{ app: App; group: AppGroup; flows: Flow[] | null; shown: number }> = [];
  let flowCount = 0;
  for (const group of groups.values()) {
    if (filter.appId !== null && group.appId !== filter.appId) continue;
    const app = apps.get(group.appId);
    if (!app || group.flows.size === 0) continue;
    // What the search this one narrows found here, if the group has not changed since.
    const found = narrowing ? previous.groups.get(group) : undefined;
    const before = found && found.version === group.version ? found : undefined;
    if (before && before.flows?.length === 0) {
      search.groups.set(group, before); // nothing matched then, so nothing can now
      continue;
    }
    const wholeApp = needle === '' || appMatches(app, needle);
    if (wholeApp && filter.verdict === 'all') {
      search.groups.set(group, { version: group.version, flows: null });
      candidates.push({ app, group, flows: null, shown: group.flows.size });
      flowCount += group.flows.size;
      continue;
    }
    // Filtering inside the app: pick the matches, then sort only those.
    const pool: Iterable<Flow> = before?.flows ?? group.flows.values();
    const matching: Flow[] = [];
    for (const flow of pool) {
      if (
        verdictMatches(flow, filter.verdict) &&
        (wholeApp || flow.remotePort === port || flowText(flow).includes(needle))
      )
        matching.push(flow);
    }
    search.groups.set(group, { version: group.version, flows: matching });
    if (matching.length === 0) continue;
    // The previous matches were sorted already, and filtering keeps their order.
    if (!before?.flows) matching.sort(flowSorters[sort]);
    candidates.push({ app, group, flows: matching, shown: matching.length });
    flowCount += matching.length;
  }
  lastSearch = search;
  candidates.sort(appSorters[sort]);
  const rows = new RowList();
  // Searching opens the groups that matched, so the person sees why they matched; while searching,
  // a click on a group closes it instead of opening it.
  const openAll = needle !== '' || filter.verdict !== 'all';
  for (const candidate of candidates) {
    const open = expanded.has(candidate.app.id) !== openAll;
    rows.add(
      candidate.app,
      candidate.group,
      candidate.shown,
      open,
      open ? (candidate.flows ?? sortedFlows(candidate.group, sort)) : [],
    );
  }
  return { rows, appCount: candidates.length, flowCount };
}
