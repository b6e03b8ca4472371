// Which kernel features run in which form on this machine, from the helper's run-time probes: a
// list (the wizard shows it under the kernel check and once the helper runs) and a one-line
// summary with every feature in its tooltip (the status bar).
import type { KernelFeature } from '../../main/contract/domain';

function mark(feature: KernelFeature): { symbol: string; label: string; className: string } {
  if (!feature.available) return { symbol: '✕', label: 'missing', className: 'feature-missing' };
  if (feature.reduced) return { symbol: '~', label: 'older form', className: 'feature-reduced' };
  return { symbol: '✓', label: 'full form', className: 'feature-full' };
}

export function featureLine(feature: KernelFeature): string {
  return `${feature.label}: ${feature.form} — ${feature.why}`;
}

export function KernelFeatureList({ features }: { features: readonly KernelFeature[] }) {
  return (
    <ul className="kernel-features" aria-label="Kernel features">
      {features.map((feature) => {
        const { symbol, label, className } = mark(feature);
        return (
          <li key={feature.id} className={className} data-feature={feature.id}>
            <span className="feature-mark" aria-label={label}>
              {symbol}
            </span>
            <span>
              <strong>{feature.label}</strong>: {feature.form} <span className="muted">— {feature.why}</span>
            </span>
          </li>
        );
      })}
    </ul>
  );
}

/** "Linux 6.1.0 · cached fast path: socket storage": the release and what runs in an older form. */
export function KernelSummary({ release, features }: { release: string; features: readonly KernelFeature[] }) {
  const reduced = features.filter((feature) => !feature.available || feature.reduced);
  const text = [
    `Linux ${release}`,
    ...reduced.map((feature) => `${feature.label.toLowerCase()}: ${feature.form}`),
  ].join(' · ');
  return (
    <span className="muted" data-testid="kernel-summary" title={features.map(featureLine).join('\n')}>
      {text}
    </span>
  );
}
