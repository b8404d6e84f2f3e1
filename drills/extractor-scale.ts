/**
 * Issue 3, "more extractor pods = more images per second": enrollment throughput through the
 * gateway with one extractor serving, then two. Loopback cluster, one shard per site. Prints a
 * table and writes bench/results/extractor-scaling.json. Exits non-zero only when something
 * failed (a refused enrollment, a cluster that did not start), never on a throughput number.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { AppError, createClient, errorCodeName } from "@taj/common";
import { startLocalCluster, withCallMetadata, type LocalCluster } from "@taj/devcluster";
import { MatchingService, Modality } from "@taj/proto";
import { drillCredentials, log } from "./lib/drill.ts";
import { prepareProbes, type Probe } from "./lib/probes.ts";

const { values } = parseArgs({
  options: {
    images: { type: "string", default: "300" },
    concurrency: { type: "string", default: "4" },
    rounds: { type: "string", default: "2" },
    keep: { type: "boolean", default: false },
  },
});
const IMAGES = Number(values.images);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const WARMUP = 8;
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const OUT = resolve(import.meta.dirname, "..", "bench", "results", "extractor-scaling.json");

/** utime + stime of a process in seconds (fields 14 and 15 of /proc/<pid>/stat). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Extractions that reached the embedding stage, from an extractor's /metrics. */
async function embedCount(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("taj_extract_stage_seconds_count{") && line.includes('stage="embed"')) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - cpu[3]! - cpu[4]!) / CLK_TCK;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

interface Row {
  extractors: number;
  images: number;
  failed: number;
  seconds: number;
  imagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  extractorCpuSeconds: number;
  cpuSecondsPerImage: number;
  /** Every process of the cluster (gateway, shards, coordinators, NATS, etcd, extractors). */
  clusterCpuSecondsPerImage: number;
  /** This drill process (the callers), which shares the same 2 cores. */
  clientCpuSecondsPerImage: number;
  /** Cores kept busy by processes outside this drill during the phase (other work on the machine). */
  otherCoresBusy: number;
  /** Extractions served by each extractor during the measured phase (from its metrics). */
  servedBy: Record<string, number>;
  loadBefore: number[];
}

async function measure(cluster: LocalCluster, probes: Probe[], serving: string[], phase: string): Promise<Row> {
  const client = withCallMetadata(createClient(MatchingService, cluster.addresses.gateway), await drillCredentials(cluster));
  const errors: Record<string, number> = {};
  let next = 0;
  const enroll = async (n: number) => {
    const probe = probes[n % probes.length]!;
    const id = `XSCALE-${phase}-${n}`;
    const start = performance.now();
    await client.enroll(
      { modality: Modality.FACE, id, image: probe.image, ...(probe.faceBox ? { faceBox: probe.faceBox } : {}) },
      { timeoutMs: 60_000 },
    );
    return performance.now() - start;
  };
  try {
    const ports = Object.fromEntries(serving.map((name) => [name, cluster.ports.extractors[Number(name.split("-")[1]) - 1]!.metrics]));
    // Warm up every serving extractor (ONNX sessions, JIT, the gateway's reconnect to a restarted
    // one) outside the measurement: until each has served WARMUP extractions, bounded in calls.
    const warmStart = Object.fromEntries(await Promise.all(serving.map(async (n) => [n, await embedCount(ports[n]!)] as const)));
    for (let i = 0; i < 50 * WARMUP; i++) {
      await enroll(1_000_000 + i);
      const counts = await Promise.all(serving.map(async (n) => (await embedCount(ports[n]!)) - warmStart[n]!));
      if (counts.every((c) => c >= WARMUP)) break;
    }
    const pids = serving.map((name) => {
      const pid = cluster.services[name]!.pid;
      if (pid === undefined) throw new Error(`${name} is not running`);
      return pid;
    });
    const countsBefore = Object.fromEntries(await Promise.all(serving.map(async (n) => [n, await embedCount(ports[n]!)] as const)));
    const loadBefore = loadavg();
    const cpuBefore = pids.reduce((s, p) => s + cpuSeconds(p), 0);
    const clusterPids = cluster.pids();
    const clusterCpuBefore = clusterPids.reduce((s, p) => s + cpuSeconds(p), 0);
    const clientCpuBefore = process.cpuUsage();
    const machineBefore = machineBusySeconds();
    const latencies: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < IMAGES) {
          const n = next++;
          try {
            latencies.push(await enroll(n));
          } catch (err) {
            const code = errorCodeName(AppError.from(err).code);
            errors[code] = (errors[code] ?? 0) + 1;
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpuBefore;
    const clusterCpu = clusterPids.reduce((s, p) => s + cpuSeconds(p), 0) - clusterCpuBefore;
    const clientCpu = process.cpuUsage(clientCpuBefore);
    const machineBusy = machineBusySeconds() - machineBefore;
    const servedBy: Record<string, number> = {};
    for (const name of Object.keys(cluster.services).filter((n) => n.startsWith("extractor-"))) {
      const port = cluster.ports.extractors[Number(name.split("-")[1]) - 1]!.metrics;
      servedBy[name] = serving.includes(name) ? (await embedCount(port)) - countsBefore[name]! : 0;
    }
    if (Object.keys(errors).length > 0) log(`${phase}: failed enrollments by code ${JSON.stringify(errors)}`);
    latencies.sort((a, b) => a - b);
    const ok = latencies.length;
    return {
      extractors: serving.length,
      images: ok,
      failed: IMAGES - ok,
      seconds: round(seconds, 2),
      imagesPerSecond: round(ok / seconds, 2),
      p50Ms: Math.round(quantile(latencies, 0.5)),
      p99Ms: Math.round(quantile(latencies, 0.99)),
      extractorCpuSeconds: round(cpu, 2),
      cpuSecondsPerImage: round(cpu / ok, 3),
      clusterCpuSecondsPerImage: round(clusterCpu / ok, 3),
      clientCpuSecondsPerImage: round((clientCpu.user + clientCpu.system) / 1e6 / ok, 3),
      otherCoresBusy: round((machineBusy - clusterCpu - (clientCpu.user + clientCpu.system) / 1e6) / seconds, 2),
      servedBy,
      loadBefore: loadBefore.map((l) => round(l, 2)),
    };
  } finally {
    client.close();
  }
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

const dir = mkdtempSync(join(tmpdir(), "taj-xscale-"));
let failed = false;
let cluster: LocalCluster | undefined;
try {
  log(`starting cluster in ${dir} (base port 24000, 2 extractors, 1 shard per site)`);
  cluster = await startLocalCluster({ dir, basePort: 24000, extractors: 2, shardsPerSite: 1, logLevel: "warn" });
  const probes = await prepareProbes(cluster.addresses.gateway, { credentials: await drillCredentials(cluster) });
  log(`${probes.length} probes ready`);
  if (probes.length === 0) throw new Error("no usable probes");

  // Alternating 1, 2, 1, 2 ... so drift in the machine's other load hits both configurations.
  const ex2 = cluster.services["extractor-2"]!;
  const rows: Row[] = [];
  for (let pass = 1; pass <= ROUNDS; pass++) {
    await ex2.stop();
    log(`round ${pass}: extractor-2 stopped, measuring with extractor-1 only`);
    const one = await measure(cluster, probes, ["extractor-1"], `r${pass}-one`);
    await ex2.restart();
    log(`round ${pass}: extractor-2 restarted, measuring with both`);
    const two = await measure(cluster, probes, ["extractor-1", "extractor-2"], `r${pass}-two`);
    rows.push(one, two);
    if (one.servedBy["extractor-2"] !== 0) failed = true;
    if (Object.values(two.servedBy).some((n) => n === 0)) {
      log("with two extractors one served nothing: the gateway did not spread the load");
      failed = true;
    }
  }
  if (rows.some((r) => r.failed > 0)) failed = true;
  const mean = (n: number) => {
    const sel = rows.filter((r) => r.extractors === n);
    return sel.reduce((s, r) => s + r.imagesPerSecond, 0) / sel.length;
  };

  const uptime = execFileSync("uptime").toString().trim();
  const header = "| extractors | images | seconds | images/s | p50 ms | p99 ms | extractor CPU-s/image | cluster CPU-s/image | other cores busy | served by |";
  const lines = [
    header,
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((r) =>
      `| ${r.extractors} | ${r.images} | ${r.seconds} | ${r.imagesPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.cpuSecondsPerImage} | ${r.clusterCpuSecondsPerImage} | ${r.otherCoresBusy} | ${Object.entries(r.servedBy).map(([n, c]) => `${n.replace("extractor-", "x")}:${c}`).join(" ")} |`,
    ),
  ];
  const speedup = round(mean(2) / mean(1), 2);
  process.stdout.write(`${lines.join("\n")}\n\nspeed-up 1 -> 2 extractors (mean images/s over ${ROUNDS} rounds): ${speedup}x (${cpus().length} cores; at most ~2x here)\nuptime: ${uptime}\n`);

  mkdirSync(resolve(OUT, ".."), { recursive: true });
  writeFileSync(
    OUT,
    `${JSON.stringify(
      {
        what: "Enrollment throughput through the gateway with 1 then 2 extractors (loopback cluster, 1 shard per site, ORT_THREADS=1)",
        date: new Date().toISOString(),
        cores: cpus().length,
        concurrency: CONCURRENCY,
        imagesPerConfiguration: IMAGES,
        rounds: ROUNDS,
        warmupPerConfiguration: WARMUP,
        probes: probes.length,
        clockTicks: CLK_TCK,
        uptime,
        speedup,
        rows,
      },
      null,
      2,
    )}\n`,
  );
  log(`wrote ${OUT}`);
} catch (err) {
  failed = true;
  log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await cluster?.stop();
  if (!failed && !values.keep) rmSync(dir, { recursive: true, force: true });
  else log(`cluster dir kept: ${dir}`);
}
process.exitCode = failed ? 1 : 0;
