// npm run bench:projection -- [--identities 150] [--distractors 450] [--photos 3] [--dimensions 64,128,256] [--seed 9] [--out bench/results/projection-tattoo]
// Tattoo templates with vs without the shards' projection, on generated tattoo photos through the
// real InceptionV3 trunk + GeM pooling: how alike different tattoos look, rank-1, TAR at FAR.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { markDesign, renderMark } from "@taj/samples";
import { GemEmbedder } from "./gem.ts";
import { withAndWithout, type Labelled, type ProjectionRow } from "./metrics.ts";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const FARS = [0.01, 0.001] as const;

function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = Math.imul(h ^ (p >>> 0), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

const { values } = parseArgs({
  options: {
    identities: { type: "string", default: "150" },
    distractors: { type: "string", default: "450" },
    photos: { type: "string", default: "3" },
    dimensions: { type: "string", default: "64,128,256" },
    seed: { type: "string", default: "9" },
    model: { type: "string", default: join(REPO, ".run", "models", "inception_v3-mixed4.onnx") },
    out: { type: "string", default: join(REPO, "bench", "results", "projection-tattoo") },
  },
});
const identities = Number(values.identities);
const distractors = Number(values.distractors);
const photos = Number(values.photos);
const seed = Number(values.seed);
const dimensions = values.dimensions.split(",").map(Number);
if (![identities, distractors, photos, seed, ...dimensions].every((n) => Number.isInteger(n) && n >= 0) || photos < 2 || identities < 2) {
  process.stderr.write("bench:projection: --identities >= 2, --photos >= 2, --distractors, --seed and --dimensions are integers\n");
  process.exit(64);
}

const started = performance.now();
const embedder = await GemEmbedder.open(values.model);
const gallery: Labelled[] = [];
const probes: Labelled[] = [];
const total = identities * photos + distractors;
let done = 0;
const embed = async (identity: number, photo: number) => {
  const design = markDesign("tattoo", mixSeed(seed, identity, 1));
  const r = await renderMark(design, mixSeed(seed, identity, 2, photo), { width: 384, height: 384 });
  if (++done % 100 === 0) process.stderr.write(`embedded ${done}/${total}\n`);
  return { identity: `tattoo-${identity}`, template: await embedder.embed(r.bytes) };
};
// Mated identities: the first photo enrolled, the others probes; distractors: one enrolled photo of a tattoo seen nowhere else.
for (let i = 0; i < identities; i++) {
  gallery.push(await embed(i, 0));
  for (let k = 1; k < photos; k++) probes.push(await embed(i, k));
}
for (let i = 0; i < distractors; i++) gallery.push(await embed(identities + i, 0));
await embedder.close();
const extractSeconds = (performance.now() - started) / 1000;

const rows: ProjectionRow[] = withAndWithout(gallery, probes, dimensions.filter((k) => k < gallery.length), FARS);
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const header = ["templates", "dims", "mean cosine, different tattoos", "rank-1", ...FARS.map((f) => `TAR@FAR=${f}`)];
const lines = [
  `tattoo projection bench: ${identities} tattoos x ${photos} photos (first enrolled) + ${distractors} distractors = ${gallery.length} enrolled, ${probes.length} probes`,
  `templates: InceptionV3 mixed4 + GeM (p=3), 768-d; projection learned without labels on the ${gallery.length} enrolled templates; exact cosine (f32)`,
  `generated photos (packages/samples), not real tattoos; seed ${seed}; extraction ${extractSeconds.toFixed(0)} s`,
  "",
  header.join(" | "),
  header.map(() => "---").join(" | "),
  ...rows.map((r) => [r.label, String(r.dimensions), r.metrics.impostorMean.toFixed(3), pct(r.metrics.rank1), ...FARS.map((f) => pct(r.metrics.tarAtFar[String(f)]!))].join(" | ")),
];
const text = lines.join("\n") + "\n";
process.stdout.write(text);
await mkdir(join(values.out, ".."), { recursive: true });
await writeFile(`${values.out}.txt`, text);
await writeFile(`${values.out}.json`, JSON.stringify({
  identities, photos, distractors, seed, enrolled: gallery.length, probes: probes.length, extractSeconds, fars: FARS, rows,
}, null, 2) + "\n");
process.stderr.write(`wrote ${values.out}.txt and .json\n`);
