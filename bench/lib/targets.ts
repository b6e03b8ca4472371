// The published targets, checked against one run's figures. A target whose figures are missing
// (a contender not measured, say) is listed as n/a rather than dropped.
import type { TrafficKind, TrafficSeries } from '../traffic.js';
import type { TrafficPath } from './lab.js';
import { programShare } from './program-share.js';
import type { BenchResults } from './results.js';

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean | null;
}

function find(
  results: BenchResults,
  path: TrafficPath,
  kind: TrafficKind,
  contender: string,
): TrafficSeries | undefined {
  return results.traffic.series.find((s) => s.path === path && s.kind === kind && s.contender === contender);
}

/** a against b, each first taken against its own baseline slices: the ratio of their median ratios. */
function versus(a: TrafficSeries | undefined, b: TrafficSeries | undefined): number | null {
  if (!a?.ratio || !b?.ratio) return null;
  return a.ratio.median / b.ratio.median;
}

export function evaluateTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const path of results.traffic.plan.paths) {
    const portcullis = find(results, path, 'tcp-connect', 'portcullis');
    const ratio = portcullis?.ratio?.median ?? null;
    checks.push({
      target: `Portcullis TCP connect rate ≥ 0.9x no firewall (${path})`,
      measured: ratio === null ? 'not measured' : `${ratio.toFixed(2)}x`,
      met: ratio === null ? null : ratio >= 0.9,
    });
    const floor = find(results, path, 'tcp-connect', 'bare-hooks')?.ratio?.median ?? null;
    if (floor !== null)
      checks.push({
        target: `Portcullis TCP connect rate ≥ the bare hooks' − 0.02 and ≥ 0.93x (${path})`,
        measured: ratio === null ? 'not measured' : `${ratio.toFixed(2)}x against the bare hooks' ${floor.toFixed(2)}x`,
        met: ratio === null ? null : ratio >= floor - 0.02 && ratio >= 0.93,
      });
    const expected = programShare(portcullis);
    const expectedFloor = programShare(find(results, path, 'tcp-connect', 'bare-hooks'));
    if (expected && expectedFloor)
      checks.push({
        target: `(diagnostic) the same from the programs' run time alone (kernel statistics, steadier than the rates) (${path})`,
        measured: `${expected.ratio.toFixed(3)}x (${expected.programNs.toFixed(0)} ns a connection) against the bare hooks' ${expectedFloor.ratio.toFixed(3)}x (${expectedFloor.programNs.toFixed(0)} ns)`,
        met: expected.ratio >= expectedFloor.ratio - 0.02 && expected.ratio >= 0.93,
      });
    const udp = find(results, path, 'udp-64', 'portcullis')?.ratio?.median ?? null;
    const udpFloor = find(results, path, 'udp-64', 'bare-hooks')?.ratio?.median ?? null;
    checks.push({
      target: `Portcullis UDP 64-byte rate ≥ 0.92x no firewall (${path})`,
      measured:
        udp === null
          ? 'not measured'
          : `${udp.toFixed(2)}x${udpFloor !== null ? ` (the bare hooks: ${udpFloor.toFixed(2)}x)` : ''}`,
      met: udp === null ? null : udp >= 0.92,
    });
    const kernelOnly = find(results, path, 'tcp-connect', 'portcullis-kernel')?.ratio?.median ?? null;
    if (kernelOnly !== null) {
      checks.push({
        target: `(diagnostic) Portcullis programs only, helper stopped: TCP connect rate ≥ 0.9x (${path})`,
        measured: `${kernelOnly.toFixed(2)}x`,
        met: kernelOnly >= 0.9,
      });
    }
    const snitch = versus(portcullis, find(results, path, 'tcp-connect', 'opensnitch'));
    checks.push({
      target: `Portcullis TCP connect rate ≥ 10x OpenSnitch (${path})`,
      measured: snitch === null ? 'not measured' : `${snitch.toFixed(1)}x`,
      met: snitch === null ? null : snitch >= 10,
    });
  }
  const change = results.controlPlane?.ruleChange.find((f) => f.firewall === 'portcullis')?.enforcedMs ?? null;
  checks.push({
    target: 'One rule change enforced: p99 ≤ 10 ms',
    measured: change === null ? 'not measured' : `p50 ${change.p50.toFixed(2)} ms, p99 ${change.p99.toFixed(2)} ms`,
    met: change === null ? null : change.p99 <= 10,
  });
  const imports = results.controlPlane?.import ?? [];
  const nft = imports.find((f) => f.firewall === 'nftables' && !f.error);
  const list = imports.find((f) => f.firewall === 'portcullis' && !f.error);
  for (const [what, rate] of [
    ['imported', (f: typeof list) => f?.entriesPerSecond],
    ['removed', (f: typeof list) => f?.removalPerSecond],
  ] as const) {
    const ratio = rate(list) !== undefined && rate(nft) ? rate(list)! / rate(nft)! : null;
    checks.push({
      target: `${nft?.requested ?? 'N'} addresses ${what} (CLI start to enforced) at ≥ 1.0x the rate of nft -f`,
      measured: ratio === null ? 'not measured' : `${ratio.toFixed(2)}x`,
      met: ratio === null ? null : ratio >= 1,
    });
  }
  return checks;
}
