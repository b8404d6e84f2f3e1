import { rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "nats";
import { Etcd3 } from "etcd3";
import { startLocalCluster, type LocalCluster } from "@taj/devcluster";
import { Member, TEMPLATE_STREAM, createClient, encodeTemplateF32, memberKey, natsTls } from "@taj/common";
import { CoordinatorService, Modality, SearchMode, ShardService } from "@taj/proto";
import type { TemplateGenerator } from "../generator.ts";
import { galleryChunks, row } from "../dataset.ts";
import { latency, recallAt, round, type Latency } from "../stats.ts";
import { dirBytes } from "../engines/disk.ts";
import { cpuDuring, cpuSeconds, rssOf } from "./procstat.ts";
import { indexOf, publishRange, publishTemplate, sleep, waitApplied, waitSnapshotted, type ShardClient } from "./feed.ts";

export interface ClusterBenchOptions {
  gen: TemplateGenerator;
  probes: Float32Array;
  truth: number[][];
  k: number;
  dir: string;
  basePort: number;
  freshnessSamples: number;
  concurrency: number;
  /** Bounds the throughput run. */
  throughputSeconds: number;
  /** Run the shard restart / rebuild measurements. */
  restart: boolean;
  /** Build the face HNSW graph (both modes measured) or not (exhaustive only, as TAJ runs by default). */
  graph: boolean;
  /** Extra phase with the running cluster (the image searches through the gateway). */
  withCluster?: (cluster: LocalCluster, cpu: (names: string[]) => Record<string, number>) => Promise<void>;
  log: (message: string) => void;
  /** Called with the results before the restart phase, which takes many minutes at millions. */
  partial?: (result: ClusterResult) => void;
}

export interface SearchRun {
  mode: "approximate" | "exhaustive";
  recallAt1: number;
  recallAt10: number;
  latency: Latency;
  searchesPerSecond: number;
  cpuSecondsPerSearch: number;
}

export interface Throughput {
  mode: "approximate" | "exhaustive";
  concurrency: number;
  searchesPerSecond: number;
  latency: Latency;
  cpuSecondsPerSearch: number;
  cpuByProcess: Record<string, number>;
}

export interface ClusterResult {
  size: number;
  /** Whether the shards built the face HNSW graph (absent in results from before issue 10: they always did). */
  graph?: boolean;
  layout: { sites: string[]; shardsPerSite: number; partitions: number; logReplicas: number };
  enrollment: {
    templatesPerSecondBothSites: number;
    secondsToApplied: Record<string, number>;
    publishSeconds: number;
    cpuSecondsPerEnrollment: number;
    cpuByProcess: Record<string, number>;
  };
  memory: { shardRssBytesPerTemplatePerSite: number; shardRssBytes: Record<string, number> };
  disk: { snapshotted: boolean; shardBytesPerTemplatePerSite: number; logBytesPerTemplatePerReplica: number };
  search: SearchRun[];
  /** ShardSearch straight to shard a1 (its partitions only, approximate): where the cluster's time goes. */
  shardDirect: Latency;
  /** One entry per search mode (results written before both were measured hold one object, approximate). */
  throughput: Throughput[];
  freshness: Record<string, Latency & { missed: number }>;
  restart?: {
    shard: string;
    templatesOnShard: number;
    stopSeconds: number;
    afterSigtermSeconds: number;
    afterSigkillSeconds: number;
    rebuildFromLogSeconds: number;
  };
  restartError?: string;
}

/** One replica's bytes per template in the log, measured at 100 k (half-precision records, subject, msgID). */
const LOG_BYTES_PER_TEMPLATE = 1_160;

/** Snapshots are bounded to a tenth of a shard's time (SNAPSHOT_MAX_DUTY_PERCENT): at millions they come minutes apart. */
const snapshotWaitMs = (size: number) => Math.max(120_000, size / 10);

/** Templates between two progress lines while publishing (a 9 M load takes over an hour). */
const PROGRESS_EVERY = 500_000;

/** Largest gallery the cluster bench builds HNSW graphs for (memory-plan.ts: ~1 KB more per template per site). */
export const CLUSTER_GRAPH_LIMIT = 2_000_000;

const SHARD_NAMES = (c: LocalCluster) => Object.keys(c.services).filter((n) => n.startsWith("shard-"));

/** Runs the cluster phases on one data set; the cluster is stopped on return. */
export async function runClusterBench(o: ClusterBenchOptions): Promise<ClusterResult> {
  const { gen, log } = o;
  rmSync(o.dir, { recursive: true, force: true });
  log(`cluster: starting (base port ${o.basePort})`);
  // With the face graph the approximate mode is measured beside the exhaustive one; without it the
  // cluster runs as TAJ does by default (and as it must above CLUSTER_GRAPH_LIMIT on this machine).
  const graph = o.graph;
  const modes = graph ? (["approximate", "exhaustive"] as const) : (["exhaustive"] as const);
  log(`cluster: ${graph ? "with" : "without"} the face HNSW graph`);
  const cluster = await startLocalCluster({
    dir: o.dir, basePort: o.basePort, logLevel: "warn", shardEnv: { HNSW_MODALITIES: graph ? "face" : "" },
    // The production budgets (800 ms per shard call, 3 s per search) are sized for shards of about
    // a million templates on their own cores; here two sites' shards of up to 4.5 M each share 2
    // cores, and the bench measures how long a search takes instead of failing it (the 9 M run of
    // 2026-12-02 lost its whole cluster phase to "partitions 0..7 could not be searched").
    serviceEnv: { coordinator: { SHARD_CALL_TIMEOUT_MS: "20000", SEARCH_TIMEOUT_MS: "30000" } },
    // Each NATS node stores a full replica of the log (1 160 B per half-precision record), plus the audit stream.
    natsMaxFileStoreGb: Math.max(4, Math.ceil((gen.size * LOG_BYTES_PER_TEMPLATE * 1.5) / 1e9)),
  });
  const nc = await connect({ servers: [cluster.addresses.nats["a"]!], name: "taj-bench", ...natsTls(cluster.pki.admin, "admin") });
  const etcd = new Etcd3(cluster.etcdOptions());
  const shards: Record<string, ShardClient> = Object.fromEntries(
    Object.entries(cluster.addresses.shards).map(([id, address]) => [id, createClient(ShardService, address, cluster.credentials())]),
  );
  const coordinators = Object.fromEntries(
    Object.entries(cluster.addresses.coordinators).map(([site, address]) => [site, createClient(CoordinatorService, address, cluster.credentials())]),
  );
  const pidsOf = (names: string[]) => Object.fromEntries(names.flatMap((n) => (cluster.processes[n]?.pid === undefined ? [] : [[n, cluster.processes[n]!.pid!]])));
  const allNames = Object.keys(cluster.processes);
  try {
    const js = nc.jetstream();
    const shardNames = SHARD_NAMES(cluster);
    const rssBefore = Object.fromEntries(shardNames.map((n) => [n, rssOf(cluster.processes[n]!.pid!)]));

    // Enrollment: the whole gallery through the log, timed until every shard at both sites applied it.
    log(`cluster: publishing ${gen.size} templates`);
    const started = performance.now();
    let publishSeconds = 0;
    const lastByPartition = new Map<number, number>();
    const enrol = await cpuDuring(pidsOf(allNames), async () => {
      // Read from the gallery file in chunks (at 9 M generating them again would cost the bench
      // process a core for a quarter of an hour, beside the cluster it measures).
      let last = 0;
      let nextReport = PROGRESS_EVERY;
      for (const { from, vectors } of galleryChunks(gen)) {
        const to = from + vectors.length / gen.dim;
        last = Math.max(last, await publishRange(js, cluster.partitionCount, from, to, (i) => row(vectors, i - from, gen.dim), lastByPartition));
        if (to >= nextReport && to < gen.size) {
          nextReport += PROGRESS_EVERY;
          const s = (performance.now() - started) / 1000;
          log(`cluster: published ${to} in ${s.toFixed(0)} s (${Math.round(to / s)}/s acknowledged by the log)`);
        }
      }
      publishSeconds = (performance.now() - started) / 1000;
      log(`cluster: published in ${publishSeconds.toFixed(1)} s; waiting for the shards to apply`);
      return { last, applied: await waitApplied(shards, last, started, Math.max(600_000, gen.size * 10)) };
    });
    const applied = enrol.result.applied;
    const bothSites = Math.max(...Object.values(applied));
    const enrolCpu = Object.values(enrol.cpu).reduce((a, b) => a + b, 0);
    log(`cluster: applied at both sites in ${bothSites.toFixed(1)} s`);

    const rssAfter = Object.fromEntries(shardNames.map((n) => [n, rssOf(cluster.processes[n]!.pid!)]));
    const siteA = shardNames.filter((n) => n.startsWith("shard-a"));
    const rssPerTemplate = siteA.reduce((a, n) => a + rssAfter[n]! - rssBefore[n]!, 0) / gen.size;

    // Disk, and a quiet cluster for the searches: wait (bounded) until every shard has a snapshot
    // covering the whole load (the 10 000-event snapshot would otherwise run during the first searches).
    log("cluster: waiting for snapshots covering the load");
    const snapshotted = await waitSnapshotted(shards, Math.min(...lastByPartition.values()), snapshotWaitMs(gen.size));
    const shardDisk = siteA.reduce((a, n) => a + dirBytes(join(cluster.dir, `${n}-data`)), 0);
    const streamInfo = await (await nc.jetstreamManager()).streams.info(TEMPLATE_STREAM);

    // Searches, one at a time, approximate then exhaustive, through coordinator A.
    const search: SearchRun[] = [];
    const searchNames = allNames.filter((n) => n.startsWith("shard-") || n.startsWith("coordinator-"));
    for (const mode of modes) {
      log(`cluster: ${o.truth.length} sequential ${mode} searches`);
      const ms: number[] = [];
      const results: number[][] = [];
      const run = await cpuDuring(pidsOf(searchNames), async () => {
        for (let q = 0; q < o.truth.length; q++) {
          const t = performance.now();
          const r = await coordinators["a"]!.coordinatedSearch({
            modality: Modality.FACE, templateF32: encodeTemplateF32(row(o.probes, q, gen.dim)), similarityThreshold: -1, maxCandidates: o.k,
            mode: mode === "approximate" ? SearchMode.APPROXIMATE : SearchMode.EXHAUSTIVE,
          }, { timeoutMs: 30_000 });
          ms.push(performance.now() - t);
          results.push(r.candidates.map((c) => indexOf(c.id)));
        }
      });
      const lat = latency(ms);
      search.push({
        mode,
        recallAt1: round(recallAt(1, results, o.truth), 4),
        recallAt10: round(recallAt(10, results, o.truth), 4),
        latency: lat,
        searchesPerSecond: round(1000 / lat.meanMs),
        cpuSecondsPerSearch: round(Object.values(run.cpu).reduce((a, b) => a + b, 0) / o.truth.length),
      });
    }

    log(`cluster: ${o.truth.length} sequential ShardSearch calls straight to shard a1`);
    const directMs: number[] = [];
    for (let q = 0; q < o.truth.length; q++) {
      const t = performance.now();
      await shards["a1"]!.shardSearch({
        modality: Modality.FACE, partitions: cluster.assignments["a1"]!, templateF32: encodeTemplateF32(row(o.probes, q, gen.dim)), k: o.k, mode: graph ? SearchMode.APPROXIMATE : SearchMode.EXHAUSTIVE,
      }, { timeoutMs: 30_000 });
      directMs.push(performance.now() - t);
    }

    // Throughput: `concurrency` searches in flight, bounded in time, in each mode (exhaustive is the default).
    const throughput: Throughput[] = [];
    for (const mode of modes) {
      log(`cluster: ${mode} throughput at concurrency ${o.concurrency} for up to ${o.throughputSeconds} s`);
      const tms: number[] = [];
      let next = 0;
      const until = performance.now() + o.throughputSeconds * 1000;
      const tp = await cpuDuring(pidsOf(searchNames), async () => {
        await Promise.all(Array.from({ length: o.concurrency }, async () => {
          while (performance.now() < until && next < o.truth.length * 20) {
            const q = next++ % o.truth.length;
            const t = performance.now();
            await coordinators["a"]!.coordinatedSearch({
              modality: Modality.FACE, templateF32: encodeTemplateF32(row(o.probes, q, gen.dim)), similarityThreshold: -1, maxCandidates: o.k,
              mode: mode === "approximate" ? SearchMode.APPROXIMATE : SearchMode.EXHAUSTIVE,
            }, { timeoutMs: 30_000 });
            tms.push(performance.now() - t);
          }
        }));
      });
      throughput.push({
        mode,
        concurrency: o.concurrency,
        searchesPerSecond: round(tms.length / tp.wallSeconds),
        latency: latency(tms),
        cpuSecondsPerSearch: round(Object.values(tp.cpu).reduce((a, b) => a + b, 0) / Math.max(1, tms.length)),
        cpuByProcess: Object.fromEntries(Object.entries(tp.cpu).map(([k, v]) => [k, round(v)])),
      });
    }

    // Freshness: publish one new template, then search for it at both sites until it is found.
    log(`cluster: freshness, ${o.freshnessSamples} samples`);
    const fresh: Record<string, number[]> = { a: [], b: [] };
    const missed: Record<string, number> = { a: 0, b: 0 };
    for (let j = 0; j < o.freshnessSamples; j++) {
      const vector = gen.photo(2_000_000_000 + j, 0);
      const id = `fresh${j}`;
      await publishTemplate(js, cluster.partitionCount, id, vector);
      const acked = performance.now();
      await Promise.all(Object.keys(fresh).map(async (site) => {
        const deadline = acked + 15_000;
        while (performance.now() < deadline) {
          const r = await coordinators[site]!.coordinatedSearch({
            modality: Modality.FACE, templateF32: encodeTemplateF32(vector), similarityThreshold: -1, maxCandidates: 1, mode: SearchMode.APPROXIMATE,
          }, { timeoutMs: 5_000 });
          if (r.candidates[0]?.id === id) {
            fresh[site]!.push(performance.now() - acked);
            return;
          }
          await sleep(2);
        }
        missed[site]! += 1;
      }));
    }

    if (o.withCluster) await o.withCluster(cluster, (names) => Object.fromEntries(names.map((n) => [n, cpuSeconds(cluster.processes[n]!.pid!)])));

    const result: ClusterResult = {
      size: gen.size,
      graph,
      layout: { sites: ["a", "b"], shardsPerSite: siteA.length, partitions: cluster.partitionCount, logReplicas: 3 },
      enrollment: {
        templatesPerSecondBothSites: round(gen.size / bothSites),
        secondsToApplied: Object.fromEntries(Object.entries(applied).map(([k, v]) => [k, round(v)])),
        publishSeconds: round(publishSeconds),
        cpuSecondsPerEnrollment: round(enrolCpu / gen.size),
        cpuByProcess: Object.fromEntries(Object.entries(enrol.cpu).map(([k, v]) => [k, round(v)])),
      },
      memory: {
        shardRssBytesPerTemplatePerSite: round(rssPerTemplate),
        shardRssBytes: rssAfter,
      },
      disk: {
        snapshotted,
        shardBytesPerTemplatePerSite: round(shardDisk / gen.size),
        logBytesPerTemplatePerReplica: round(streamInfo.state.bytes / Math.max(1, streamInfo.state.messages)),
      },
      search,
      shardDirect: latency(directMs),
      throughput,
      freshness: Object.fromEntries(Object.entries(fresh).map(([site, ms]) => [site, { ...latency(ms), missed: missed[site]! }])),
    };

    if (o.restart) {
      // At millions the restarts take many minutes: what was measured so far is kept first, and
      // a restart that fails is reported beside the rest rather than losing it.
      o.partial?.(result);
      try {
        result.restart = await measureRestart(cluster, etcd, shards, log);
      } catch (err) {
        result.restartError = (err as Error).message;
        log(`restart: FAILED ${result.restartError}`);
      }
    }
    return result;
  } finally {
    for (const c of [...Object.values(shards), ...Object.values(coordinators)]) c.close();
    etcd.close();
    await nc.close();
    log("cluster: stopping");
    await cluster.stop();
  }
}

/**
 * Shard a1: stop (SIGTERM: it snapshots on the way out) and start again; SIGKILL and start
 * again (last periodic snapshot + log tail); stop, delete its data dir and start (rebuild from
 * the whole log). Ready = its member key in etcd is new and lists every assigned partition.
 */
async function measureRestart(cluster: LocalCluster, etcd: Etcd3, shards: Record<string, ShardClient>, log: (m: string) => void): Promise<NonNullable<ClusterResult["restart"]>> {
  const name = "shard-a1";
  const handle = cluster.processes[name]!;
  const assigned = cluster.assignments["a1"]!;
  const status = await shards["a1"]!.shardStatus({}, { timeoutMs: 5_000 });
  const templatesOnShard = status.counts.reduce((a, c) => a + Number(c.templates), 0);
  const memberNow = async () => {
    const v = await etcd.get(memberKey("a", "a1")).string();
    return v === null ? undefined : Member.parse(JSON.parse(v));
  };
  // A rebuild replays the shard's whole share of the log: allow 1 000 templates/s, at least 15 min.
  const readyWithinMs = Math.max(900_000, templatesOnShard);
  const readyAfter = async (oldStartedAt: string | undefined, t0: number) => {
    const deadline = Date.now() + readyWithinMs;
    while (Date.now() < deadline) {
      const m = await memberNow().catch(() => undefined);
      if (m && m.startedAt !== oldStartedAt && assigned.every((p) => m.partitions.includes(p))) return (performance.now() - t0) / 1000;
      await sleep(100);
    }
    throw new Error(`${name} did not come back within ${Math.round(readyWithinMs / 60_000)} min`);
  };

  log(`restart: ${name} after SIGTERM (${templatesOnShard} templates)`);
  let before = (await memberNow())?.startedAt;
  let t = performance.now();
  await handle.stop(60_000);
  const stopSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  handle.process.start();
  const afterSigterm = await readyAfter(before, t);

  log(`restart: ${name} after SIGKILL`);
  before = (await memberNow())?.startedAt;
  handle.kill("SIGKILL");
  await handle.process.waitExit();
  t = performance.now();
  handle.process.start();
  const afterSigkill = await readyAfter(before, t);

  log(`restart: ${name} rebuilt from the log`);
  before = (await memberNow())?.startedAt;
  await handle.stop(60_000);
  rmSync(join(cluster.dir, `${name}-data`), { recursive: true, force: true });
  t = performance.now();
  handle.process.start();
  const rebuild = await readyAfter(before, t);
  return {
    shard: "a1",
    templatesOnShard,
    stopSeconds: round(stopSeconds),
    afterSigtermSeconds: round(afterSigterm),
    afterSigkillSeconds: round(afterSigkill),
    rebuildFromLogSeconds: round(rebuild),
  };
}
