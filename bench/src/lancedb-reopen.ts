// Tunes and measures a LanceDB table that a bench run built but could not search in time.
//
// At 9 M the LanceDB build alone takes most of a session (105 min on 2026-12-07), and the run that
// built it then spent its searches re-reading the index (the cache was too small; see
// engines/lancedb.ts). Rebuilding would cost the session again, so this reopens the built table
// with the same engine code and runs the same tuning and measurement as engine-run.ts.
//
//   node --expose-gc --import tsx bench/src/lancedb-reopen.ts <job.json> <build seconds> <out.json>
//
// job.json is the bench's own job file for the engine (it names the data set, the truth and the
// target recall); build seconds is what the build took, read off the run's files.
import { readFileSync, writeFileSync } from "node:fs";
import { generatorFor, probeMatrix } from "./dataset.ts";
import { engineResult, searchAll, tuneToTarget, type EngineJob } from "./engine-run.ts";
import { dirBytes } from "./engines/disk.ts";
import { LancedbEngine } from "./engines/lancedb.ts";
import { rssBytes } from "./stats.ts";

const [jobPath, buildSecondsArg, outPath] = process.argv.slice(2);
if (jobPath === undefined || buildSecondsArg === undefined || outPath === undefined || !(Number(buildSecondsArg) > 0)) {
  console.error("usage: lancedb-reopen.ts <job.json> <build seconds> <out.json>");
  process.exit(2);
}
const job = JSON.parse(readFileSync(jobPath, "utf8")) as EngineJob;
const buildSeconds = Number(buildSecondsArg);
const gen = generatorFor(job.spec);
const probes = probeMatrix(gen, job.spec.probes).vectors;
const n = job.spec.probes, dim = gen.dim;
const truth = JSON.parse(readFileSync(job.truthPath, "utf8")) as number[][];
const log = (m: string) => console.log(`[lancedb-reopen ${new Date().toISOString().slice(11, 19)}] ${m}`);

const rss0 = rssBytes();
const engine = new LancedbEngine();
await engine.open(job.dir, gen.size);
await searchAll(engine, probes, Math.min(20, n), dim, job.k);
log(`opened and warmed up; RSS ${(rssBytes() / 2 ** 30).toFixed(2)} GiB`);

const { tuning, effort } = await tuneToTarget(engine, probes, truth, job, (steps) => {
  const last = steps[steps.length - 1]!;
  log(`ef ${last.effort}: recall@10 ${last.recallAtK}, p50 ${last.p50Ms} ms`);
  writeFileSync(`${outPath}.tuning.json`, JSON.stringify(steps, null, 2) + "\n");
});

const { results, ms } = await searchAll(engine, probes, n, dim, job.k);
// Measured after the searches: an opened table loads its index on the first search, not at open.
const rssDelta = rssBytes() - rss0;
const result = { ...engineResult("lancedb", engine, gen.size, { buildSeconds, rssDelta, diskBytes: dirBytes(job.dir), effort, tuning, results, reference: truth, ms }), reopened: true };
writeFileSync(outPath, JSON.stringify(result, null, 2) + "\n");
log(`ef ${effort}: recall@10 ${result.recallAt10}, p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms, ${result.memoryBytesPerTemplate} B/template resident`);
