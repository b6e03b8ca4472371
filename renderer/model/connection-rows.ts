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

export interface RowsResult {
  rows: Row[];
  appCount: number;
  flowCount: number;
}

const flowSorters: Record<SortKey, (a: Flow, b: Flow) => number> = {
  recent: (a, b) => b.lastSeen - a.lastSeen,
  name: (a, b) => (a.remoteName ?? a.remoteAddr).localeCompare(b.remoteName ?? b.remoteAddr) || a.remotePort - b.remotePort,
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
  return app.name.toLowerCase().includes(needle) || (app.exe?.toLowerCase().includes(needle) ?? false) || (app.identifier?.toLowerCase().includes(needle) ?? false);
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

export function buildRows(apps: Map<number, App>, groups: Map<number, AppGroup>, filter: RowFilter, sort: SortKey, expanded: ReadonlySet<number>): RowsResult {
  const needle = filter.text.trim().toLowerCase();
  const port = /^[0-9]{1,5}$/.test(needle) ? Number(needle) : -1;
  const candidates: Array<{ app: App; group: AppGroup; flows: Flow[] | null; shown: number }> = [];
  let flowCount = 0;
  for (const group of groups.values()) {
    if (filter.appId !== null && group.appId !== filter.appId) continue;
    const app = apps.get(group.appId);
    if (!app || group.flows.size === 0) continue;
    const wholeApp = needle === '' || appMatches(app, needle);
    if (wholeApp && filter.verdict === 'all') {
      candidates.push({ app, group, flows: null, shown: group.flows.size });
      flowCount += group.flows.size;
      continue;
    }
    // Filtering inside the app: pick the matches, then sort only those.
    const matching: Flow[] = [];
    for (const flow of group.flows.values()) {
      if (verdictMatches(flow, filter.verdict) && (wholeApp || flow.remotePort === port || flowText(flow).includes(needle))) matching.push(flow);
    }
    if (matching.length === 0) continue;
    matching.sort(flowSorters[sort]);
    candidates.push({ app, group, flows: matching, shown: matching.length });
    flowCount += matching.length;
  }
  candidates.sort(appSorters[sort]);
  const rows: Row[] = [];
  // Searching opens the groups that matched, so the person sees why they matched; while searching,
  // a click on a group closes it instead of opening it.
  const openAll = needle !== '' || filter.verdict !== 'all';
  for (const candidate of candidates) {
    const open = expanded.has(candidate.app.id) !== openAll;
    rows.push({ kind: 'app', app: candidate.app, group: candidate.group, shown: candidate.shown, expanded: open });
    if (!open) continue;
    for (const flow of candidate.flows ?? sortedFlows(candidate.group, sort)) rows.push({ kind: 'flow', app: candidate.app, flow });
  }
  return { rows, appCount: candidates.length, flowCount };
}
