import { readFile, writeFile } from "node:fs/promises";
import { formatReport, latencyChart, recallChart, writePng } from "./report.ts";
import type { BenchResult } from "./run.ts";

// `node --import tsx bench/src/render.ts bench/results/scale-100k.json`: table and charts again
// from a result file (after a change to the report, without measuring again).
const path = process.argv[2];
if (path === undefined || !path.endsWith(".json")) {
  process.stderr.write("usage: render.ts <scale-*.json>\n");
  process.exit(64);
}
const result = JSON.parse(await readFile(path, "utf8")) as BenchResult;
const base = path.slice(0, -".json".length);
const report = formatReport(result);
await writeFile(`${base}.txt`, report + "\n");
await writePng(latencyChart(result), `${base}-latency.png`);
await writePng(recallChart(result), `${base}-recall.png`);
process.stdout.write(report + "\n");
