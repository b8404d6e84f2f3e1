import { writeFile } from "node:fs/promises";
import sharp from "sharp";
import { renderSvg, type Chart, type Series } from "./chart.ts";
import type { EvalReport } from "./report.ts";

const BLUE = "#1f77b4", ORANGE = "#d62728";

export function cmcChart(report: EvalReport): Chart {
  const id = report.identification;
  const lowest = Math.min(...id.cmc.map((c) => c.rate));
  return {
    title: "CMC: identification rate by rank",
    subtitle: `${id.matedSearches} mated searches, gallery of ${id.galleryIdentities} identities (${report.modality})`,
    x: { label: "rank", min: 1, max: Math.max(2, id.maxRank), ...(id.maxRank <= 20 ? { ticks: id.cmc.map((c) => c.rank) } : {}) },
    // Rates near 1 would hug the frame on a 0..1 axis: start a little below the lowest.
    y: { label: "identification rate (mate at rank <= k)", min: Math.max(0, Math.floor((lowest - 0.05) * 10) / 10), max: 1 },
    series: [{ name: "CMC", color: BLUE, kind: "line", markers: true, points: id.cmc.map((c) => [c.rank, c.rate] as const) }],
    legend: "bottom-right",
  };
}

export function detChart(report: EvalReport): Chart {
  const id = report.identification;
  const smallest = 1 / Math.max(1, id.nonMatedSearches);
  const min = 10 ** Math.floor(Math.log10(smallest));
  const colors = [BLUE, ORANGE];
  const series: Series[] = id.det.map((d, i) => ({
    name: `FNIR at rank ${d.rank}`,
    color: colors[i % colors.length]!,
    kind: "line",
    markers: true,
    dashed: i > 0,
    // FPIR 0 has no place on a log axis.
    points: d.points.filter((p) => p.fpir > 0).map((p) => [p.fpir, p.fnir] as const),
  }));
  const highest = Math.max(0.1, ...id.det.flatMap((d) => d.points.filter((p) => p.fpir > 0).map((p) => p.fnir)));
  return {
    title: "DET: FNIR against FPIR (1:N, leave-one-identity-out)",
    subtitle: `${id.matedSearches} mated and ${id.nonMatedSearches} non-mated searches`,
    x: { label: "FPIR (non-mated searches returning a candidate >= threshold), log scale", min, max: 1, log: true },
    y: { label: "FNIR (mate missing at rank <= L or below threshold)", min: 0, max: Math.min(1, Math.ceil(highest * 10) / 10) },
    series,
    legend: "top-right",
  };
}

export function histogramChart(report: EvalReport): Chart {
  const { genuine, impostor } = report.histograms;
  const density = (counts: number[], total: number) => counts.map((c) => (total === 0 ? 0 : c / total / genuine.binWidth));
  const g = density(genuine.counts, report.verification.genuinePairs);
  const im = density(impostor.counts, report.verification.impostorPairs);
  const start = genuine.start;
  const end = start + genuine.counts.length * genuine.binWidth;
  const top = Math.max(0.1, ...g, ...im);
  const bars = (values: number[]) => values.map((v, i) => [start + i * genuine.binWidth, v] as const);
  return {
    title: "1:1 score distributions",
    subtitle: `${report.verification.genuinePairs} genuine pairs, ${report.verification.impostorPairs} impostor pairs (cosine similarity)`,
    x: { label: "similarity score", min: start, max: Math.max(end, start + genuine.binWidth) },
    y: { label: "density (fraction per unit of score)", min: 0, max: top * 1.05 },
    series: [
      { name: "impostor", color: ORANGE, kind: "bars", barWidth: impostor.binWidth, points: bars(im) },
      { name: "genuine", color: BLUE, kind: "bars", barWidth: genuine.binWidth, points: bars(g) },
    ],
    legend: "top-left",
  };
}

export async function writePng(chart: Chart, path: string): Promise<void> {
  const png = await sharp(Buffer.from(renderSvg(chart))).png().toBuffer();
  await writeFile(path, png);
}
