// An app's badge: the renderer cannot read icon themes (it has no file access), so a letter on a
// colour derived from the name keeps apps apart at a glance.
import type { App } from '../../main/contract/domain';

const HUES = [210, 160, 280, 20, 340, 100, 190, 45, 250, 0];

export function AppIcon({ app, size = 28 }: { app: Pick<App, 'name' | 'kind'>; size?: number }) {
  let hash = 0;
  for (const char of app.name) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const hue = HUES[hash % HUES.length];
  const letter = app.kind === 'kernel' ? '⚙' : (app.name.replace(/^[^a-zA-Z0-9]+/, '')[0] ?? '?').toUpperCase();
  return (
    <span
      className="app-icon"
      aria-hidden="true"
      style={{ width: size, height: size, fontSize: size * 0.5, background: `hsl(${hue} 55% 45%)` }}
    >
      {letter}
    </span>
  );
}
