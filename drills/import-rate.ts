/**
 * Issue 10, "bulk enrolment for the migration": the rate of `tajctl import` (one EnrollStream)
 * on a loopback cluster (1 shard per site, `--extractors` extractors, default 2), over a JSON
 * Lines manifest of single-face photos made from the sample photos (each face repeated under new
 * ids up to `--items`). Prints items/s and the machine's CPU use; exits non-zero only when an
 * item failed or the cluster did not start, never on a throughput number.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "@taj/common";
import { startLocalCluster } from "@taj/devcluster";
import { MatchingService } from "@taj/proto";
import { manifestItems, runImport } from "@taj/tajctl";
import { log } from "./lib/drill.ts";
import { prepareProbes } from "./lib/probes.ts";

const { values } = parseArgs({ options: { items: { type: "string", default: "480" }, extractors: { type: "string", default: "2" }, window: { type: "string", default: "32" } } });
const ITEMS = Number(values.items);
const EXTRACTORS = Number(values.extractors);
const WINDOW = Number(values.window);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - cpu[3]! - cpu[4]!) / CLK_TCK;
}

const dir = mkdtempSync(join(tmpdir(), "taj-import-rate-"));
const cluster = await startLocalCluster({ dir: join(dir, "cluster"), basePort: 25600, shardsPerSite: 1, partitionCount: 4, extractors: EXTRACTORS, logLevel: "warn" });
try {
  const metadata = await cluster.issuer.metadata({ sub: "import-rate", roles: ["enroll", "search"] });
  const probes = await prepareProbes(cluster.addresses.gateway, cluster.credentials("client"));
  const lines: string[] = [];
  for (const [i, probe] of probes.entries()) writeFileSync(join(dir, `face-${i}.jpg`), probe.image);
  for (let n = 0; n < ITEMS; n++) {
    const i = n % probes.length;
    const box = probes[i]!.faceBox;
    lines.push(JSON.stringify({
      id: `RATE${String(n).padStart(7, "0")}`, modality: "face", path: `face-${i}.jpg`,
      ...(box ? { box: { x: box.xPx, y: box.yPx, width: box.widthPx, height: box.heightPx } } : {}),
    }));
  }
  const manifest = join(dir, "manifest.jsonl");
  writeFileSync(manifest, `${lines.join("\n")}\n`);
  const client = createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("bearer"));
  const loadBefore = loadavg();
  const busyBefore = machineBusySeconds();
  const started = performance.now();
  const summary = await runImport({
    client, metadata, items: manifestItems(manifest), journalPath: `${manifest}.import-journal`, failuresPath: `${manifest}.import-failures`,
    window: WINDOW, retries: 3,
  });
  const seconds = (performance.now() - started) / 1000;
  const busy = machineBusySeconds() - busyBefore;
  client.close();
  const result = {
    at: new Date().toISOString(), cores: cpus().length, extractors: EXTRACTORS, window: WINDOW, distinctFaces: probes.length,
    items: ITEMS, enrolled: summary.enrolled, failed: summary.failed, seconds: Number(seconds.toFixed(2)),
    itemsPerSecond: Number((summary.enrolled / seconds).toFixed(1)),
    machineCpuSecondsPerItem: Number((busy / ITEMS).toFixed(4)), machineCoresBusy: Number((busy / seconds).toFixed(2)),
    loadBefore: loadBefore.map((l) => Number(l.toFixed(2))), loadAfter: loadavg().map((l) => Number(l.toFixed(2))),
  };
  log(JSON.stringify(result));
  if (summary.failed > 0) {
    log(readFileSync(`${manifest}.import-failures`, "utf8"));
    process.exitCode = 1;
  }
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
