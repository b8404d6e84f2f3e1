import { rmSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { formatSize, parseBenchArgs, UsageError } from "./args.ts";
import { formatReport, latencyChart, recallChart, writePng } from "./report.ts";
import { runBench } from "./run.ts";

// `npm run bench -- [options]`: see args.ts USAGE and bench/README.md.
let options;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(err instanceof UsageError ? 64 : 1);
}
const started = Date.now();
const log = (m: string) => process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);
const name = `scale-${options.scales.map(formatSize).join("-")}`;
await mkdir(options.out, { recursive: true });
// A long run (the --huge tier takes hours) keeps what it measured so far if it is stopped.
const partialPath = join(options.out, `${name}.partial.json`);
const result = await runBench(options, log, (partial) => writeFileSync(partialPath, JSON.stringify(partial, null, 2) + "\n"));
rmSync(partialPath, { force: true });
const report = formatReport(result);
await writeFile(join(options.out, `${name}.json`), JSON.stringify(result, null, 2) + "\n");
await writeFile(join(options.out, `${name}.txt`), report + "\n");
await writePng(latencyChart(result), join(options.out, `${name}-latency.png`));
await writePng(recallChart(result), join(options.out, `${name}-recall.png`));
process.stdout.write(report + "\n");
log(`wrote ${join(options.out, name)}.{json,txt} and -latency.png, -recall.png`);
process.exit(0);
