import { parseArgs } from "node:util";
import { writeMarkDataset } from "./dataset.ts";

const USAGE = "usage: npm run samples:marks -- --modality tattoo|mark --out <dir> [--identities 40] [--per-identity 4] [--seed 1] [--size 384]";

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
  return n;
}

let options: Parameters<typeof writeMarkDataset>[1] & { out: string };
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      modality: { type: "string" },
      out: { type: "string" },
      identities: { type: "string", default: "40" },
      "per-identity": { type: "string", default: "4" },
      seed: { type: "string", default: "1" },
      size: { type: "string", default: "384" },
    },
  });
  if (values.modality !== "tattoo" && values.modality !== "mark") throw new Error("--modality must be tattoo or mark");
  if (values.out === undefined) throw new Error("--out is required");
  const size = positiveInt(values.size, "size");
  options = {
    out: values.out,
    modality: values.modality,
    identities: positiveInt(values.identities, "identities"),
    perIdentity: positiveInt(values["per-identity"], "per-identity"),
    seed: Number.parseInt(values.seed, 10) >>> 0,
    width: size,
    height: size,
  };
} catch (err) {
  console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  process.exit(64);
}

const labels = await writeMarkDataset(options.out, options);
console.log(`${options.identities} ${options.modality} identities, ${labels.length} images in ${options.out}`);
