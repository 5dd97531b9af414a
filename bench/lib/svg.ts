/**
 * A line chart as a standalone SVG string, written by hand (no dependency): axes with
 * ticks and labels, one polyline (plus a dot per point) per series, a legend. An axis is
 * logarithmic when all its values are positive and span 20× or more (stepped rates
 * double, latencies span decades), else linear from 0. Pure: same input, same text.
 */

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  points: Point[];
}

export interface Chart {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

/** Plot area inside the 760 × 460 canvas; exported so tests can check points fall inside it. */
export const PLOT = { left: 80, top: 56, width: 480, height: 330 } as const;
export const WIDTH = 760;
export const HEIGHT = 460;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

interface Axis {
  log: boolean;
  min: number;
  max: number;
  ticks: number[];
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short tick text: 1.5M, 20k, 0.25. */
export function tickLabel(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** Chooses log or linear and the ticks for these values. */
export function axisFor(values: number[]): Axis {
  const vs = values.filter((v) => Number.isFinite(v));
  const lo = vs.length ? Math.min(...vs) : 0;
  const hi = vs.length ? Math.max(...vs) : 1;
  if (lo > 0 && hi / lo >= 20) {
    const a = Math.floor(Math.log10(lo));
    const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
    const ticks: number[] = [];
    // Few decades: 1-2-5 ticks; many: powers of ten only.
    const mults = b - a <= 3 ? [1, 2, 5] : [1];
    for (let e = a; e <= b; e++) for (const m of mults) if (m * 10 ** e <= 10 ** b) ticks.push(m * 10 ** e);
    return { log: true, min: 10 ** a, max: 10 ** b, ticks };
  }
  const top = hi > 0 ? hi : 1;
  const raw = top / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const max = Math.ceil(top / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= max + step / 2; v += step) ticks.push(+v.toPrecision(12));
  return { log: false, min: 0, max, ticks };
}

function scale(axis: Axis, v: number, from: number, length: number, flip: boolean): number {
  const f = axis.log
    ? (Math.log10(v) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min))
    : (v - axis.min) / (axis.max - axis.min);
  const c = Math.min(1, Math.max(0, f));
  return +(flip ? from + length - c * length : from + c * length).toFixed(1);
}

/** The chart as an SVG document. Points with a non-finite or (on a log axis) non-positive value are left out. */
export function chartSvg(chart: Chart): string {
  const all = chart.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xa = axisFor(all.map((p) => p.x));
  const ya = axisFor(all.map((p) => p.y));
  const X = (v: number) => scale(xa, v, PLOT.left, PLOT.width, false);
  const Y = (v: number) => scale(ya, v, PLOT.top, PLOT.height, true);
  const usable = (p: Point) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!xa.log || p.x > 0) && (!ya.log || p.y > 0);
  const bottom = PLOT.top + PLOT.height;
  const right = PLOT.left + PLOT.width;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle) out.push(`<text x="${WIDTH / 2}" y="40" text-anchor="middle" fill="#555555">${escapeXml(chart.subtitle)}</text>`);
  out.push(`<g class="grid" stroke="#e5e5e5">`);
  for (const t of xa.ticks) out.push(`<line x1="${X(t)}" y1="${PLOT.top}" x2="${X(t)}" y2="${bottom}"/>`);
  for (const t of ya.ticks) out.push(`<line x1="${PLOT.left}" y1="${Y(t)}" x2="${right}" y2="${Y(t)}"/>`);
  out.push('</g>');
  out.push(`<g class="axes" stroke="#333333"><line x1="${PLOT.left}" y1="${bottom}" x2="${right}" y2="${bottom}"/><line x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${bottom}"/></g>`);
  out.push('<g class="ticks" fill="#333333">');
  for (const t of xa.ticks) out.push(`<text x="${X(t)}" y="${bottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`);
  for (const t of ya.ticks) out.push(`<text x="${PLOT.left - 6}" y="${Y(t) + 4}" text-anchor="end">${tickLabel(t)}</text>`);
  out.push('</g>');
  out.push(`<text x="${PLOT.left + PLOT.width / 2}" y="${bottom + 38}" text-anchor="middle">${escapeXml(chart.xLabel)}${xa.log ? ' (log scale)' : ''}</text>`);
  out.push(`<text transform="translate(20 ${PLOT.top + PLOT.height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}${ya.log ? ' (log scale)' : ''}</text>`);
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter(usable).sort((a, b) => a.x - b.x);
    const name = escapeXml(s.name);
    out.push(`<g class="series" data-name="${name}">`);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${X(p.x)},${Y(p.y)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${X(p.x)}" cy="${Y(p.y)}" r="3.5" fill="${color}"/>`);
    out.push('</g>');
    const ly = PLOT.top + 10 + i * 20;
    out.push(`<line x1="${right + 20}" y1="${ly}" x2="${right + 44}" y2="${ly}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${right + 50}" y="${ly + 4}">${name}${pts.length === 0 ? ' (no data)' : ''}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
