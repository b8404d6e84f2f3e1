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
import { AppError, createClient, encodeTemplateF32, errorCodeName, type TlsFiles } from "@taj/common";
import { connect } from "nats";
import { create } from "@bufbuild/protobuf";
import { CoordinatorService, Modality, SearchMode, ShardService, TemplateEventSchema } from "@taj/proto";
import { encodeTemplateEvent, encodeTemplateF16, partitionOf, templateSubject } from "@taj/common";
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
/** Synthetic templates written to the log first, so per-shard work and move cost are measurable. */
const syntheticTemplates = Number(process.env.SCALE_DRILL_TEMPLATES ?? (args.ci ? 0 : 20_000));

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
    const client = createClient(CoordinatorService, cluster.addresses.coordinators[site]!, cluster.credentials());
    const s = stats.get(site)!;
    try {
      for (let i = 0; i < 20_000 && !until(); i++) {
        s.calls++;
        const started = performance.now();
        try {
          const r = await client.coordinatedSearch(
            { modality: Modality.FACE, templateF32: encodeTemplateF32(template()), similarityThreshold: -1, maxCandidates: 200, mode: SearchMode.EXHAUSTIVE, allowPartial: true },
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

function randomUnit(rand: () => number): number[] {
  const v = Array.from({ length: 512 }, () => rand() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

/** Straight into the template log (the gateway path is measured elsewhere): ids SYN-<n>, face. */
async function publishSynthetic(cluster: LocalCluster, count: number): Promise<void> {
  const nc = await connect(cluster.natsOptions());
  try {
    const js = nc.jetstream();
    let seed = 5;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
    for (let i = 0; i < count; i += 256) {
      await Promise.all(
        Array.from({ length: Math.min(256, count - i) }, (_, j) => {
          const id = `SYN-${i + j}`;
          const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality: Modality.FACE, templateF16: encodeTemplateF16(randomUnit(rand)) } } });
          return js.publish(templateSubject(Modality.FACE, partitionOf(id, cluster.partitionCount), id), encodeTemplateEvent(event));
        }),
      );
    }
  } finally {
    await nc.close();
  }
}

interface SpeedSample {
  label: string;
  /** shard -> templates held and p50 of an exhaustive ShardSearch over its partitions. */
  shards: Array<{ shard: string; templates: number; p50: number }>;
  coordinatorP50: number;
}

/** Per-shard and whole-site search time at site a, exhaustive (work proportional to templates held). */
async function measureSpeed(cluster: LocalCluster, etcd: ReturnType<typeof etcdClient>, label: string, rounds = 30): Promise<SpeedSample> {
  const status = await gatherStatus(etcd, { tls: cluster.pki.admin });
  let seed = 3;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
  const shards: SpeedSample["shards"] = [];
  for (const row of status.shards.filter((r) => r.site === "a" && r.alive && r.loaded.length > 0)) {
    const client = createClient(ShardService, row.address, cluster.credentials());
    const times: number[] = [];
    try {
      for (let i = 0; i < rounds; i++) {
        const t0 = performance.now();
        await client.shardSearch({ modality: Modality.FACE, partitions: row.loaded, templateF32: encodeTemplateF32(randomUnit(rand)), k: 50, mode: SearchMode.EXHAUSTIVE }, { timeoutMs: 5_000 });
        times.push(performance.now() - t0);
      }
    } finally {
      client.close();
    }
    shards.push({ shard: row.shard, templates: row.templates?.face ?? 0, p50: p50(times) });
  }
  const coordinator = createClient(CoordinatorService, cluster.addresses.coordinators.a!, cluster.credentials());
  const times: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await coordinator.coordinatedSearch(
        { modality: Modality.FACE, templateF32: encodeTemplateF32(randomUnit(rand)), similarityThreshold: 0.3, maxCandidates: 50, mode: SearchMode.EXHAUSTIVE },
        { timeoutMs: 5_000 },
      );
      times.push(performance.now() - t0);
    }
  } finally {
    coordinator.close();
  }
  return { label, shards, coordinatorP50: p50(times) };
}

async function waitCaughtUp(etcd: ReturnType<typeof etcdClient>, natsUrls: string[], tls: TlsFiles, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const s = await gatherStatus(etcd, { tls, natsUrls });
    if (s.shards.every((r) => !r.alive || r.lag === 0)) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error("shards did not catch up with the synthetic templates");
    await sleep(1_000);
  }
}

const p50 = (xs: number[]) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);

async function main(): Promise<number> {
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), "taj-drill-scale-"));
  log(`starting a local two-site cluster on loopback, 2 shards per site (dir ${dir}, ports ${BASE_PORT}+)`);
  const cluster = await startLocalCluster({ dir, basePort: BASE_PORT, logLevel: "warn", shardsPerSite: 2, extractors: 2 });
  const etcd = etcdClient(cluster.addresses.etcdEndpoints, cluster.pki.admin);
  let failed = true;
  try {
    const gateway = cluster.addresses.gateway;
    let indexMs: number | undefined;
    if (syntheticTemplates > 0) {
      log(`writing ${syntheticTemplates} synthetic templates to the log`);
      const t0 = Date.now();
      await publishSynthetic(cluster, syntheticTemplates);
      await waitCaughtUp(etcd, cluster.addresses.natsUrls, cluster.pki.admin, 600_000);
      indexMs = Date.now() - t0;
      log(`indexed at both sites in ${indexMs} ms`);
    }
    const speed: SpeedSample[] = [];
    const probes = await prepareProbes(gateway, cluster.credentials("client"));
    if (probes.length < 4) throw new Error(`only ${probes.length} usable probes`);
    log(`${probes.length} probes ready`);
    const load = startLoad({ credentials: cluster.credentials("client"), gateways: [gateway], probes, runId: runId(), durationMs: 15 * 60_000, maxOps: args.ci ? 4_000 : 20_000 });
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

    await phase("steady, 2 shards per site", async () => {
      await sleep(warmMs);
      if (syntheticTemplates > 0) speed.push(await measureSpeed(cluster, etcd, "2 shards"));
    });
    await phase("scale out", async () => {
      for (const site of SITES) {
        await Promise.all([addShard(cluster, site, `${site}3`), addShard(cluster, site, `${site}4`)]);
        log(`shards ${site}3, ${site}4 started and registered (no partitions yet)`);
        await move(site, 4);
      }
    });
    await phase("steady, 4 shards per site", async () => {
      await sleep(holdMs);
      if (syntheticTemplates > 0) speed.push(await measureSpeed(cluster, etcd, "4 shards"));
    });
    const statusAt4 = await gatherStatus(etcd, { tls: cluster.pki.admin, natsUrls: cluster.addresses.natsUrls, coordinators: Object.values(cluster.addresses.coordinators) });
    process.stderr.write(`${renderStatus(statusAt4)}\n`);
    await phase("scale in", async () => {
      for (const site of SITES) {
        await move(site, 2);
        await Promise.all([removeShard(cluster, `${site}3`), removeShard(cluster, `${site}4`)]);
        log(`shards ${site}3, ${site}4 stopped`);
      }
    });
    await phase("steady, 2 shards per site again", async () => {
      await sleep(afterMs);
      if (syntheticTemplates > 0) speed.push(await measureSpeed(cluster, etcd, "2 shards again"));
    });
    load.stop();
    loadOver = true;
    const [result] = await Promise.all([load.done, probesRun.done]);
    log(`load done: ${result.enrolled.length} enrollments, ${result.deleted.length} deletions, ${result.searches.length} searches; verifying`);
    const holders = await holdersFromEtcd(cluster.addresses.etcdEndpoints, cluster.pki.admin);
    const verify = await verifySites(result, { credentials: cluster.credentials(), sites: [...SITES], partitionCount: cluster.partitionCount, holders, timeoutMs: 60_000 });
    const statusEnd = await gatherStatus(etcd, { tls: cluster.pki.admin, natsUrls: cluster.addresses.natsUrls });

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
    if (indexMs !== undefined) rows.push({ measure: `synthetic templates written and indexed at both sites`, value: `${syntheticTemplates} in ${ms(indexMs)}` });
    for (const sample of speed) {
      const perShard = sample.shards.map((x) => `${x.shard}: ${x.templates} tpl ${x.p50.toFixed(1)} ms`).join(", ");
      rows.push({ measure: `site a, ${sample.label}: exhaustive ShardSearch p50 per shard`, value: perShard });
      rows.push({ measure: `site a, ${sample.label}: exhaustive coordinated search p50`, value: `${sample.coordinatorP50.toFixed(1)} ms` });
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
