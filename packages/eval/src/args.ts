import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { modalityFromName } from "@taj/common";
import type { EvalOptions } from "./run.ts";

export const USAGE = `usage: npm run eval -- <folder> [--out <dir>] [--modality face|tattoo|mark] [--max-rank 20] [--regions labels.json] [--extractor host:port]

<folder> holds one sub-folder per identity; in each, the first image by file name is enrolled and
the others are probes. Writes metrics.json, cmc.png, det.png and score-histogram.png to --out
(default bench/results/eval-<timestamp>). --regions: a JSON file of [{identity, file, box}] (as
npm run samples:marks writes labels.json); each listed image is extracted from its box.`;

const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Command-line arguments as run options; throws with a message for the user on bad input. */
export function parseEvalArgs(argv: string[], now = new Date()): EvalOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: "string" },
      modality: { type: "string", default: "face" },
      "max-rank": { type: "string", default: "20" },
      extractor: { type: "string" },
      regions: { type: "string" },
    },
  });
  const [folder, ...extra] = positionals;
  if (folder === undefined || extra.length > 0) throw new Error("give exactly one folder");
  // Checked here so a typo gets the usage text, not an error after the dataset scan.
  try {
    modalityFromName(values.modality);
  } catch {
    throw new Error("--modality must be face, tattoo or mark");
  }
  const maxRank = Number(values["max-rank"]);
  if (!Number.isInteger(maxRank) || maxRank < 1 || maxRank > 1000) throw new Error("--max-rank must be an integer from 1 to 1000");
  if (values.extractor !== undefined && !/^[\w.-]+:\d{1,5}$/.test(values.extractor)) throw new Error("--extractor must be host:port");
  const stamp = now.toISOString().replaceAll(":", "-").replace(/\.\d+Z$/, "Z");
  return {
    folder,
    outDir: values.out ?? join(REPO_ROOT, "bench", "results", `eval-${stamp}`),
    modality: values.modality.toLowerCase(),
    maxRank,
    extractor: values.extractor,
    regions: values.regions,
  };
}
