import type { EvalReport } from "./report.ts";

const pct = (v: number | null) => (v === null ? "n/a" : `${(v * 100).toFixed(2)} %`);
const num = (v: number | null) => (v === null ? "n/a" : Number.isFinite(v) ? v.toFixed(4) : String(v));

function rows(header: string[], body: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
}

/** The report as plain text for a terminal. */
export function formatTable(r: EvalReport): string {
  const id = r.identification, v = r.verification, f = r.failureToEnrol;
  const out: string[] = [
    `Accuracy evaluation: ${r.folder}`,
    `modality ${r.modality}, ${r.source}, model ${r.modelIds.join(", ") || "n/a"}, ${r.seconds.toFixed(1)} s`,
    `${r.dataset.identities} identities, ${r.dataset.images} images` +
      (r.dataset.skippedFiles.length > 0 ? ` (${r.dataset.skippedFiles.length} non-image files skipped)` : "") +
      // Only face detection finds several regions in one image; tattoo and mark pipelines take one.
      (r.modality === "face" ? `, ${r.imagesWithSeveralFaces} with several faces (most confident, then largest, used)` : ""),
    "",
    `Failure to enrol: ${f.failed}/${f.attempted} = ${pct(f.rate)}; enrolment images ${f.enrolmentImages.failed}/${f.enrolmentImages.attempted}` +
      (f.failed > 0 ? `; reasons: ${Object.entries(f.byCode).map(([c, n]) => `${c} ${n}`).join(", ")}` : ""),
    "",
    `1:N identification: gallery ${id.galleryIdentities}, ${id.matedSearches} mated / ${id.nonMatedSearches} non-mated searches`,
    ...rows(["rank", "identification rate"], id.cmc.filter((c) => [1, 2, 3, 5, 10, 20, id.maxRank].includes(c.rank)).map((c) => [String(c.rank), pct(c.rate)])),
    "",
    ...rows(
      ["FPIR", "rank", "threshold", "observed FPIR", "FNIR"],
      id.fnirAtFpir.map((x) => [String(x.fpir), String(x.rank), num(x.threshold), pct(x.observedFpir), pct(x.fnir)]),
    ),
    "",
    `1:1 verification: ${v.genuinePairs} genuine / ${v.impostorPairs} impostor pairs`,
    ...rows(["FAR", "threshold", "observed FAR", "TAR"], v.tarAtFar.map((x) => [String(x.far), num(x.threshold), pct(x.observedFar), pct(x.tar)])),
    "",
    ...rows(
      ["scores", "count", "min", "mean", "max"],
      [
        ["genuine", String(v.genuine.count), num(v.genuine.min), num(v.genuine.mean), num(v.genuine.max)],
        ["impostor", String(v.impostor.count), num(v.impostor.min), num(v.impostor.mean), num(v.impostor.max)],
      ],
    ),
    "",
    "n/a: too few non-mated searches or impostor pairs to measure that rate (needs at least 1/rate).",
  ];
  return out.join("\n");
}
