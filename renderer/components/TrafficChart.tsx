// Bytes over time for one app: received above the axis, sent below, one bar per poll. Plain SVG.
import type { TrafficPoint } from '../stores/connections-store';
import { formatBytes } from '../model/format';

const WIDTH = 280;
const HEIGHT = 120;
const WINDOW_MS = 5 * 60_000;

export function TrafficChart({ points, now }: { points: TrafficPoint[]; now: number }) {
  const visible = points.filter((point) => point.time > now - WINDOW_MS);
  const peak = Math.max(1, ...visible.map((point) => Math.max(point.bytesIn, point.bytesOut)));
  const mid = HEIGHT / 2;
  const x = (time: number) => ((time - (now - WINDOW_MS)) / WINDOW_MS) * WIDTH;
  const barWidth = Math.max(1.5, (WIDTH / (WINDOW_MS / 2000)) * 0.8);
  const totalIn = visible.reduce((sum, point) => sum + point.bytesIn, 0);
  const totalOut = visible.reduce((sum, point) => sum + point.bytesOut, 0);
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={`Traffic in the last 5 minutes: ${formatBytes(totalIn)} received, ${formatBytes(totalOut)} sent`}
      >
        <line x1="0" x2={WIDTH} y1={mid} y2={mid} className="chart-axis" />
        {visible.map((point) => (
          <g key={point.time}>
            <rect
              className="chart-in"
              x={x(point.time) - barWidth}
              width={barWidth}
              y={mid - (point.bytesIn / peak) * (mid - 4)}
              height={(point.bytesIn / peak) * (mid - 4)}
            />
            <rect
              className="chart-out"
              x={x(point.time) - barWidth}
              width={barWidth}
              y={mid}
              height={(point.bytesOut / peak) * (mid - 4)}
            />
          </g>
        ))}
        {visible.length === 0 && (
          <text x={WIDTH / 2} y={mid - 8} textAnchor="middle" className="chart-empty">
            no traffic in the last 5 minutes
          </text>
        )}
      </svg>
      <figcaption>
        <span className="legend legend-in">received {formatBytes(totalIn)}</span>
        <span className="legend legend-out">sent {formatBytes(totalOut)}</span>
        {visible.length > 0 && <span className="muted">peak {formatBytes(peak)} / 2 s</span>}
      </figcaption>
    </figure>
  );
}
