// `npm run bench:marks -- [--identities 100] [--per-identity 4] [--learn 600]
//  [--dimensions 256,512] [--out bench/results/marks-eval]`: the tattoo and mark pipelines on the
// project's own generated sets, in one run: rank-1/rank-5 and TAR at FAR with the caller's region
// and with the whole image, raw and through projections (centring + whitening) learned without
// labels on other designs than the evaluated ones, as `tajctl projection learn` learns from
// enrolled templates; ms per image per stage; template sizes. Prints a table, writes
// <out>/marks-eval.{json,txt}.
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Modality } from "@taj/proto";
import { applyProjection, learnProjection, type LinearProjection } from "@taj/common";
import { Extractor, loadModalities } from "@taj/extractor";
import { runEval, type EvalReport } from "@taj/eval";
import { writeMarkDataset, type MarkModality } from "@taj/samples";

const { values } = parseArgs({
  options: {
    identities: { type: "string", default: "100" },
    "per-identity": { type: "string", default: "4" },
    learn: { type: "string", default: "600" },
    dimensions: { type: "string", default: "256,512" },
    out: { type: "string", default: join(import.meta.dirname, "..", "results", "marks-eval") },
  },
});
const identities = Number(values.identities), perIdentity = Number(values["per-identity"]), learnCount = Number(values.learn);
const dimensions = values.dimensions.split(",").map(Number);
if (![identities, perIdentity, learnCount, ...dimensions].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("--identities, --per-identity, --learn and --dimensions take positive integers");
  process.exit(64);
}

const started = Date.now();
const log = (m: string) => process.stderr.write(`[marks-eval +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);
const work = await mkdtemp(join(tmpdir(), "taj-marks-eval-"));
const extractor = await Extractor.create(loadModalities(undefined), { maxBytes: 15 * 1024 * 1024, maxPixels: 40_000_000 }, 1);

interface Variant {
  modality: MarkModality;
  region: "box" | "whole image";
  projection: string;
  rank1: number;
  rank5: number;
  tarAtFar: Record<string, number | null>;
  thresholdAtFar: Record<string, number | null>;
  /** FNIR at rank 1 for each FPIR (NIST's identification figure, as Tatt-E reports it). */
  fnirAtFpir: Record<string, number | null>;
  genuineMean: number;
  impostorMean: number;
  failureToEnrol: number;
}
interface Timing { modality: MarkModality; images: number; decodeP50: number; embedP50: number; totalP50: number; totalP95: number }

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** Raw templates of the learning set (other designs, one photo each, their boxes) and the stage timings. */
async function learningTemplates(modality: MarkModality, dir: string): Promise<{ templates: Float32Array[]; timing: Timing }> {
  const labels = await writeMarkDataset(dir, { modality, identities: learnCount, perIdentity: 1, seed: 2 });
  const templates: Float32Array[] = [];
  const decode: number[] = [], embed: number[] = [], total: number[] = [];
  const m = modality === "tattoo" ? Modality.TATTOO : Modality.MARK;
  for (const label of labels) {
    const bytes = await readFile(join(dir, label.identity, label.file));
    const t0 = performance.now();
    const r = await extractor.extract(m, bytes, { faceBox: label.box });
    total.push(performance.now() - t0);
    decode.push(r.timings.decodeMs);
    embed.push(r.timings.embedMs);
    templates.push(r.template);
  }
  return {
    templates,
    timing: { modality, images: labels.length, decodeP50: quantile(decode, 0.5), embedP50: quantile(embed, 0.5), totalP50: quantile(total, 0.5), totalP95: quantile(total, 0.95) },
  };
}

function variantOf(modality: MarkModality, region: Variant["region"], projection: string, report: EvalReport): Variant {
  const rate = (rank: number) => report.identification.cmc.find((c) => c.rank === rank)?.rate ?? NaN;
  const tar: Record<string, number | null> = {}, thr: Record<string, number | null> = {};
  for (const t of report.verification.tarAtFar) {
    tar[String(t.far)] = t.tar;
    thr[String(t.far)] = t.threshold;
  }
  const fnir: Record<string, number | null> = {};
  for (const f of report.identification.fnirAtFpir) if (f.rank === 1) fnir[String(f.fpir)] = f.fnir;
  return {
    modality, region, projection, rank1: rate(1), rank5: rate(5), tarAtFar: tar, thresholdAtFar: thr, fnirAtFpir: fnir,
    genuineMean: report.verification.genuine.mean ?? NaN, impostorMean: report.verification.impostor.mean ?? NaN, failureToEnrol: report.failureToEnrol.rate,
  };
}

const variants: Variant[] = [];
const timings: Timing[] = [];
const projections: { modality: MarkModality; dimensions: number; varianceKept: number; samples: number }[] = [];
try {
  for (const modality of ["tattoo", "mark"] as const) {
    const evalDir = join(work, `eval-${modality}`);
    await writeMarkDataset(evalDir, { modality, identities, perIdentity, seed: 1 });
    log(`${modality}: learning set (${learnCount} other designs)`);
    const { templates, timing } = await learningTemplates(modality, join(work, `learn-${modality}`));
    timings.push(timing);
    const eval_ = async (region: Variant["region"], name: string, transform?: (t: Float32Array) => Float32Array) => {
      log(`${modality}: eval, ${region}, ${name}`);
      const { report } = await runEval({
        folder: evalDir, outDir: join(work, `out-${modality}-${variants.length}`), modality, maxRank: 5, env: {}, transform,
        ...(region === "box" ? { regions: join(evalDir, "labels.json") } : {}),
      });
      variants.push(variantOf(modality, region, name, report));
    };
    await eval_("whole image", "none");
    await eval_("box", "none");
    for (const d of dimensions) {
      const learned = learnProjection(templates, d);
      projections.push({ modality, dimensions: d, varianceKept: learned.varianceKept, samples: templates.length });
      const p: LinearProjection = learned;
      await eval_("box", `whitened ${d}-d`, (t) => applyProjection(p, t));
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

const pct = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "n/a" : `${(100 * x).toFixed(1)} %`);
const lines = [
  `tattoo and mark pipelines on generated sets: ${identities} designs x ${perIdentity} photos each (first enrolled), projections learned on ${learnCount} other designs`,
  "",
  "modality  region       projection     rank-1   rank-5   TAR@FAR1%  TAR@FAR0.1%  thr@FAR1%  FNIR@FPIR1%  genuine  impostor",
  ...variants.map((v) =>
    [v.modality.padEnd(8), v.region.padEnd(12), v.projection.padEnd(14), pct(v.rank1).padStart(7), pct(v.rank5).padStart(8), pct(v.tarAtFar["0.01"]).padStart(10),
      pct(v.tarAtFar["0.001"]).padStart(12), (v.thresholdAtFar["0.01"]?.toFixed(4) ?? "n/a").padStart(10), pct(v.fnirAtFpir["0.01"]).padStart(12), v.genuineMean.toFixed(3).padStart(8), v.impostorMean.toFixed(3).padStart(9)].join(" "),
  ),
  "",
  `ms per image (1 ORT thread, in process; load average at the end ${loadavg().map((l) => l.toFixed(1)).join(" ")})`,
  "                                           decode p50  embed p50 (resize + trunk + GeM)  total p50  total p95",
  ...timings.map((t) => `${t.modality.padEnd(40)} ${t.decodeP50.toFixed(1).padStart(10)} ${t.embedP50.toFixed(1).padStart(33)} ${t.totalP50.toFixed(1).padStart(10)} ${t.totalP95.toFixed(1).padStart(10)}`),
  "",
  "template sizes: raw 768 values = 1536 B in the template log (half precision; 3072 B as float32 before template_f16); index int8 768 B raw, or 1 B per projected dimension (256 B / 512 B)",
  ...projections.map((p) => `projection ${p.modality} ${p.dimensions}-d: ${(100 * p.varianceKept).toFixed(1)} % of the sample's variance kept (${p.samples} samples)`),
];
const table = lines.join("\n");
await mkdir(values.out, { recursive: true });
await writeFile(join(values.out, "marks-eval.json"), JSON.stringify({ createdAt: new Date().toISOString(), loadAverage: loadavg(), identities, perIdentity, learnCount, variants, timings, projections }, null, 2) + "\n");
await writeFile(join(values.out, "marks-eval.txt"), table + "\n");
console.log(table);
log(`wrote ${join(values.out, "marks-eval")}.{json,txt}`);
