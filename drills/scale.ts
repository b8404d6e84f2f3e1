/**
 * Drill 3: scale each site from 2 to 4 shards and back to 2 under load (local loopback cluster),
 * with tajctl's move protocol. Besides the standard table: the time each move took, and whether any
 * search during the moves came back partial (a partition unsearched) or with a duplicate id.
 * Exits 1 on a broken promise. `--ci`: short phases. Bounded in time and calls.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { addShard, removeShard, startLocalCluster, stopAddedShards, type LocalCluster } from "@taj/devcluster";
import { AppError, createClient, errorCodeName } from "@taj/common";
import { CoordinatorService, Modality } from "@taj/proto";
import { etcdClient, gatherStatus, renderStatus, runChange, type MoveReport } from "@taj/tajctl";
import { drillArgs, log, runId } from "./lib/drill.ts";
import { startLoad } from "./lib/load.ts";
import { prepareProbes } from "./lib/probes.ts";
import { holdersFromEtcd, verifySites } from "./lib/verify.ts";
import { ms, printReport, standardRows, type Row } from "./lib/report.ts";

const BASE_PORT = 19500;
const SITES = ["a", "b"] as const;
const args = drillArgs();
const warmMs = args.seconds(15, 6);
const holdMs = args.seconds(15, 5);
const afterMs = args.seconds(10, 4);

interface ProbeStats {
  calls: number;
  failed: Record<string, number>;
  /** Answers with unsearched partitions (allow_partial is set so they show instead of failing). */
  partial: number;
  duplicates: number;
  latencies: Array<{ at: number; ms: number }>;
}

/**
 * Searches each site's coordinator directly with random templates, a threshold of -1 and many
 * candidates, so every partition contributes hits: a partition answered twice would show as a
 * duplicate id, one answered by nobody as an unsearched partition.
 */
function coordinatorProbes(cluster: LocalCluster, until: () => boolean) {
  const stats = new Map<string, ProbeStats>(SITES.map((s) => [s, { calls: 0, failed: {}, partial: 0, duplicates: 0, latencies: [] }]));
  let seed = 11;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31 - 0.5);
  const template = () => {
    const v = Array.from({ length: 512 }, rand);
    const n = Math.hypot(...v);
    return v.map((x) => x / n);
  };
  const loops = SITES.map(async (site) => {
    const client = createClient(CoordinatorService, cluster.addresses.coordinators[site]!);
    const s = stats.get(site)!;
    try {
      for (let i = 0; i < 20_000 && !until(); i++) {
        s.calls++;
        const started = performance.now();
        try {
          const r = await client.coordinatedSearch(
            { modality: Modality.FACE, template: template(), similarityThreshold: -1, maxCandidates: 200, allowPartial: true },
            { timeoutMs: 2_000 },
          );
          s.latencies.push({ at: Date.now(), ms: performance.now() - started });
          if (r.unsearchedPartitions.length > 0) s.partial++;
          if (new Set(r.candidates.map((c) => c.id)).size !== r.candidates.length) s.duplicates++;
        } catch (err) {
          const code = errorCodeName(AppError.from(err).code);
          s.failed[code] = (s.failed[code] ?? 0) + 1;
        }
        await sleep(40);
      }
    } finally {
      client.close();
    }
  });
  return { stats, done: Promise.all(loops) };
}

const p50 = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);

async function main(): Promise<number> {
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), "taj-drill-scale-"));
  log(`starting a local two-site cluster on loopback, 2 shards per site (dir ${dir}, ports ${BASE_PORT}+)`);
  const cluster = await startLocalCluster({ dir, basePort: BASE_PORT, logLevel: "warn", shardsPerSite: 2, extractors: 2 });
  const etcd = etcdClient(cluster.addresses.etcdEndpoints);
  let failed = true;
  try {
    const gateway = cluster.addresses.gateway;
    const probes = await prepareProbes(gateway);
    if (probes.length < 4) throw new Error(`only ${probes.length} usable probes`);
    log(`${probes.length} probes ready`);
    const load = startLoad({ gateways: [gateway], probes, runId: runId(), durationMs: 15 * 60_000, maxOps: args.ci ? 4_000 : 20_000 });
    let loadOver = false;
    const probesRun = coordinatorProbes(cluster, () => loadOver);
    const moves: Array<{ step: string; reports: MoveReport[]; ms: number }> = [];
    const phases: Array<{ label: string; from: number; to: number }> = [];
    const phase = async (label: string, body: () => Promise<void>) => {
      const from = load.mark(label);
      await body();
      phases.push({ label, from, to: Date.now() });
    };
    const move = async (site: string, shards: number) => {
      const started = Date.now();
      const { reports } = await runChange(etcd, site, { kind: "scale", shards }, { lockWaitMs: 30_000, stepTimeoutMs: 180_000 });
      moves.push({ step: `site ${site}: ${shards === 4 ? "2 -> 4" : "4 -> 2"} shards`, reports, ms: Date.now() - started });
      log(`site ${site} now ${shards} shards: ${reports.length} partitions moved in ${Date.now() - started} ms`);
    };

    await phase("steady, 2 shards per site", () => sleep(warmMs));
    await phase("scale out", async () => {
      for (const site of SITES) {
        await Promise.all([addShard(cluster, site, `${site}3`), addShard(cluster, site, `${site}4`)]);
        log(`shards ${site}3, ${site}4 started and registered (no partitions yet)`);
        await move(site, 4);
      }
    });
    await phase("steady, 4 shards per site", () => sleep(holdMs));
    const statusAt4 = await gatherStatus(etcd, { natsUrls: cluster.addresses.natsUrls, coordinators: Object.values(cluster.addresses.coordinators) });
    process.stderr.write(`${renderStatus(statusAt4)}\n`);
    await phase("scale in", async () => {
      for (const site of SITES) {
        await move(site, 2);
        await Promise.all([removeShard(cluster, `${site}3`), removeShard(cluster, `${site}4`)]);
        log(`shards ${site}3, ${site}4 stopped`);
      }
    });
    await phase("steady, 2 shards per site again", () => sleep(afterMs));
    load.stop();
    loadOver = true;
    const [result] = await Promise.all([load.done, probesRun.done]);
    log(`load done: ${result.enrolled.length} enrollments, ${result.deleted.length} deletions, ${result.searches.length} searches; verifying`);
    const holders = await holdersFromEtcd(cluster.addresses.etcdEndpoints);
    const verify = await verifySites(result, { sites: [...SITES], partitionCount: cluster.partitionCount, holders, timeoutMs: 60_000 });
    const statusEnd = await gatherStatus(etcd, { natsUrls: cluster.addresses.natsUrls });

    const rows: Row[] = [...standardRows(result, verify, { lanes: ["client"], gapPromised: ["client"], gapLimitMs: 5_000, maxErrorRate: 0 })];
    for (const m of moves) {
      const longest = Math.max(0, ...m.reports.map((r) => r.totalMs));
      rows.push({ measure: `${m.step}: partitions moved, whole step`, value: `${m.reports.length} in ${ms(m.ms)}` });
      rows.push({ measure: `${m.step}: longest single move (load + hand-over)`, value: ms(longest) });
    }
    const allMoved = moves.length === 4 && moves.every((m) => m.reports.length === cluster.partitionCount / 2);
    rows.push({ measure: "moves completed (4 steps, half the partitions each)", value: allMoved ? "yes" : "no", promise: "yes", ok: allMoved });
    for (const [site, s] of probesRun.stats) {
      const failures = Object.values(s.failed).reduce((a, b) => a + b, 0);
      rows.push({ measure: `coordinator ${site}: searches during the drill`, value: String(s.calls) });
      rows.push({
        measure: `coordinator ${site}: failed searches`, value: failures === 0 ? "0" : Object.entries(s.failed).map(([c, n]) => `${c}:${n}`).join(" "),
        promise: "= 0", ok: failures === 0,
      });
      rows.push({ measure: `coordinator ${site}: partial answers (partition unsearched)`, value: String(s.partial), promise: "= 0", ok: s.partial === 0 });
      rows.push({ measure: `coordinator ${site}: answers with a duplicate id`, value: String(s.duplicates), promise: "= 0", ok: s.duplicates === 0 });
      for (const ph of phases) {
        const lat = s.latencies.filter((l) => l.at >= ph.from && l.at <= ph.to).map((l) => l.ms);
        rows.push({ measure: `coordinator ${site}: search p50, ${ph.label}`, value: `${p50(lat).toFixed(1)} ms (${lat.length})` });
      }
    }
    const backTo2 = statusEnd.sites.every((s) => s.shards === 2 && s.alive === 2 && s.uncovered.length === 0 && s.unassigned.length === 0);
    rows.push({ measure: "after: 2 live shards per site, every partition covered", value: backTo2 ? "yes" : "no", promise: "yes", ok: backTo2 });
    const code = printReport("drill 3: scale 2 -> 4 -> 2 shards per site under load", rows);
    failed = code !== 0;
    return code;
  } finally {
    etcd.close();
    await stopAddedShards(cluster);
    await cluster.stop();
    if (args.keep || failed) log(`cluster files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main().catch((err: unknown) => {
  log(`drill failed to run: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  return 2;
});
