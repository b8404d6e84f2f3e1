/**
 * A minimal SVG chart: axes with ticks and grid, a title, labels, a legend, and line, step or bar
 * series. Enough for CMC, DET and histograms without a plotting dependency; sharp renders the SVG.
 */

export interface Axis {
  label: string;
  min: number;
  max: number;
  log?: boolean;
  format?: (v: number) => string;
  /** Overrides the automatic ticks. */
  ticks?: number[];
}

export interface Series {
  name: string;
  color: string;
  /** Bars: each point is [left edge, height], all bars `barWidth` wide. */
  kind: "line" | "bars";
  points: readonly (readonly [number, number])[];
  barWidth?: number;
  markers?: boolean;
  dashed?: boolean;
}

export interface Chart {
  title: string;
  subtitle?: string;
  x: Axis;
  y: Axis;
  series: readonly Series[];
  legend?: "top-right" | "bottom-right" | "top-left";
}

const WIDTH = 900, HEIGHT = 600;
const PLOT = { left: 90, right: WIDTH - 30, top: 70, bottom: HEIGHT - 75 };
const FONT = `font-family="DejaVu Sans, sans-serif"`;

function escape(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

function scale(axis: Axis, from: number, to: number): (v: number) => number {
  const f = (v: number) => (axis.log === true ? Math.log10(v) : v);
  const lo = f(axis.min), hi = f(axis.max);
  return (v) => from + ((f(v) - lo) / (hi - lo)) * (to - from);
}

/** Round-number ticks (1, 2 or 5 times a power of ten) or, on a log axis, each decade. */
export function ticks(axis: Axis): number[] {
  if (axis.ticks !== undefined) return axis.ticks;
  if (axis.log === true) {
    const out: number[] = [];
    for (let e = Math.ceil(Math.log10(axis.min) - 1e-9); e <= Math.floor(Math.log10(axis.max) + 1e-9); e++) out.push(10 ** e);
    return out;
  }
  const raw = (axis.max - axis.min) / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(axis.min / step - 1e-9) * step; v <= axis.max + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

function defaultFormat(v: number): string {
  return Math.abs(v) >= 1e-4 || v === 0 ? String(Number(v.toPrecision(6))) : v.toExponential(0);
}

export function renderSvg(chart: Chart): string {
  const sx = scale(chart.x, PLOT.left, PLOT.right);
  const sy = scale(chart.y, PLOT.bottom, PLOT.top);
  const fx = chart.x.format ?? defaultFormat, fy = chart.y.format ?? defaultFormat;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="30" text-anchor="middle" font-size="20" font-weight="bold" ${FONT}>${escape(chart.title)}</text>`,
  ];
  if (chart.subtitle !== undefined) {
    parts.push(`<text x="${WIDTH / 2}" y="52" text-anchor="middle" font-size="13" fill="#555" ${FONT}>${escape(chart.subtitle)}</text>`);
  }
  for (const t of ticks(chart.x)) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${PLOT.top}" x2="${x}" y2="${PLOT.bottom}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${x}" y="${PLOT.bottom + 22}" text-anchor="middle" font-size="13" ${FONT}>${escape(fx(t))}</text>`);
  }
  for (const t of ticks(chart.y)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${PLOT.left - 10}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end" font-size="13" ${FONT}>${escape(fy(t))}</text>`);
  }
  parts.push(`<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#333"/>`);
  parts.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${HEIGHT - 25}" text-anchor="middle" font-size="15" ${FONT}>${escape(chart.x.label)}</text>`);
  const yMid = (PLOT.top + PLOT.bottom) / 2;
  parts.push(`<text x="24" y="${yMid}" text-anchor="middle" font-size="15" transform="rotate(-90 24 ${yMid})" ${FONT}>${escape(chart.y.label)}</text>`);

  parts.push(`<clipPath id="plot"><rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}"/></clipPath>`);
  parts.push(`<g clip-path="url(#plot)">`);
  for (const s of chart.series) parts.push(...seriesSvg(s, sx, sy));
  parts.push(`</g>`);
  parts.push(...legendSvg(chart));
  parts.push(`</svg>`);
  return parts.join("\n");
}

function seriesSvg(s: Series, sx: (v: number) => number, sy: (v: number) => number): string[] {
  if (s.kind === "bars") {
    const w = s.barWidth ?? 0;
    return s.points.map(([x, h]) => {
      const left = sx(x), right = sx(x + w), top = sy(h), base = sy(0);
      return `<rect x="${left.toFixed(1)}" y="${top.toFixed(1)}" width="${Math.max(0, right - left).toFixed(1)}" height="${Math.max(0, base - top).toFixed(1)}" fill="${s.color}" fill-opacity="0.45" stroke="${s.color}"/>`;
    });
  }
  const coords = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`);
  const dash = s.dashed === true ? ` stroke-dasharray="8 5"` : "";
  const out = [`<polyline points="${coords.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2.5"${dash}/>`];
  if (s.markers === true) {
    for (const [x, y] of s.points) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="4" fill="${s.color}"/>`);
  }
  return out;
}

function legendSvg(chart: Chart): string[] {
  const rowHeight = 24;
  const boxWidth = 20 + Math.max(...chart.series.map((s) => s.name.length)) * 8 + 40;
  const boxHeight = chart.series.length * rowHeight + 12;
  const position = chart.legend ?? "top-right";
  const left = position === "top-left" ? PLOT.left + 12 : PLOT.right - 12 - boxWidth;
  const top = position === "bottom-right" ? PLOT.bottom - 12 - boxHeight : PLOT.top + 12;
  const out = [`<rect x="${left}" y="${top}" width="${boxWidth}" height="${boxHeight}" fill="white" fill-opacity="0.9" stroke="#999"/>`];
  for (const [i, s] of chart.series.entries()) {
    const y = top + 6 + rowHeight * i + rowHeight / 2;
    out.push(
      s.kind === "bars"
        ? `<rect x="${left + 10}" y="${y - 7}" width="26" height="14" fill="${s.color}" fill-opacity="0.45" stroke="${s.color}"/>`
        : `<line x1="${left + 10}" y1="${y}" x2="${left + 36}" y2="${y}" stroke="${s.color}" stroke-width="3"${s.dashed === true ? ` stroke-dasharray="8 5"` : ""}/>`,
    );
    out.push(`<text x="${left + 44}" y="${y + 5}" font-size="14" ${FONT}>${escape(s.name)}</text>`);
  }
  return out;
}
