// What TLS costs a search, measured in one run (issue 8's closing note):
//  1. in process, the same unary call shaped like a search (a 512-float template in, 20 hits out)
//     through two serial gRPC hops (caller -> "coordinator" -> "shard"), mutual TLS vs plaintext,
//     interleaved in rounds so both see the same machine load; plus the cost of a new connection;
//  2. the real local cluster (TLS everywhere, as in production): CoordinatedSearch p50/p99 over a
//     small synthetic gallery, and the gateway's Search of a sample photo (extraction included).
// Plaintext exists only here, on grpc-js directly: production code refuses it.
//   node --import tsx bench/src/tls-cost.ts [--calls 2000] [--cluster-searches 300] [--base-port 32000]
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { create, type MessageShape } from "@bufbuild/protobuf";
import { connect } from "nats";
import {
  AppError, addService, channelCredentials, createClient, createLogger, grpcServiceDefinition, serverCredentials,
} from "@taj/common";
import { CoordinatorService, MatchingService, Modality, SearchMode, ShardSearchRequestSchema, ShardService, type ShardSearchResponse } from "@taj/proto";
import { createPki, repoRoot, startLocalCluster, type Pki } from "@taj/devcluster";
import { loadSamplePhotos } from "@taj/samples";
import { publishRange } from "./cluster/feed.ts";

const { values: args } = parseArgs({
  options: {
    calls: { type: "string", default: "2000" },
    "cluster-searches": { type: "string", default: "300" },
    "base-port": { type: "string", default: "32000" },
    "skip-cluster": { type: "boolean", default: false },
  },
});
const CALLS = Number(args.calls);
const CLUSTER_SEARCHES = Number(args["cluster-searches"]);
const logger = createLogger("tls-cost", "silent");

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
function summary(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

function unitTemplate(seed: number): number[] {
  let x = seed;
  const v = Array.from({ length: 512 }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5);
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
}

type Unary = (req: MessageShape<typeof ShardSearchRequestSchema>) => Promise<ShardSearchResponse>;
/** shardSearch as makeGenericClientConstructor builds it (request, callback). */
type RawShardSearch = (
  req: MessageShape<typeof ShardSearchRequestSchema>,
  callback: (err: grpc.ServiceError | null, res: ShardSearchResponse) => void,
) => grpc.ClientUnaryCall;

/** A grpc-js channel for ShardService with the same options as createClient, any credentials (plaintext included). */
function rawShardClient(address: string, credentials: grpc.ChannelCredentials): { call: Unary; close(): void } {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(ShardService), ShardService.typeName);
  const raw = new Ctor(address, credentials, { "grpc.max_receive_message_length": 32 * 1024 * 1024 });
  const fn = (raw as unknown as Record<string, RawShardSearch>)["shardSearch"]!.bind(raw);
  return {
    call: (req) => new Promise((resolve, reject) => fn(req, (err: grpc.ServiceError | null, res: ShardSearchResponse) => (err ? reject(err) : resolve(res)))),
    close: () => raw.close(),
  };
}

async function bind(server: grpc.Server, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (err, port) => (err ? reject(err) : resolve(port))));
}

interface Chain {
  call: Unary;
  close(): Promise<void>;
}

/** caller -> front (forwards, like a coordinator) -> back (answers 20 hits, like a shard). */
async function chain(tls: boolean, pki: Pki): Promise<Chain> {
  const serverCreds = (name: string) =>
    tls ? serverCredentials(pki.issue("shard", name), { requireClientCert: true }) : grpc.ServerCredentials.createInsecure();
  const clientCreds = (files = pki.admin) => (tls ? channelCredentials(files) : grpc.credentials.createInsecure());
  const hits = Array.from({ length: 20 }, (_, i) => ({ id: `rec-${i}`, similarity: 0.9 - i / 100, partition: i % 16 }));

  const back = new grpc.Server();
  addService(back, ShardService, {
    shardSearch: async () => ({ hits, appliedSequence: 1n }),
    shardStatus: async () => ({}),
    listTemplates: async () => ({ ids: [] }),
  }, logger);
  const backPort = await bind(back, serverCreds("bench-back"));
  const toBack = rawShardClient(`127.0.0.1:${backPort}`, clientCreds(pki.issue("coordinator", "bench-front")));

  const front = new grpc.Server();
  addService(front, ShardService, {
    shardSearch: async (req) => toBack.call(req),
    shardStatus: async () => ({}),
    listTemplates: async () => ({ ids: [] }),
  }, logger);
  const frontPort = await bind(front, serverCreds("bench-front"));
  const toFront = rawShardClient(`127.0.0.1:${frontPort}`, clientCreds());
  return {
    call: toFront.call,
    async close() {
      toFront.close();
      toBack.close();
      front.forceShutdown();
      back.forceShutdown();
    },
  };
}

async function inProcess(pki: Pki) {
  const request = create(ShardSearchRequestSchema, { modality: Modality.FACE, partitions: [0, 1, 2, 3], template: unitTemplate(7), k: 20, mode: SearchMode.EXHAUSTIVE });
  const chains = { tls: await chain(true, pki), plaintext: await chain(false, pki) };
  const samples: Record<keyof typeof chains, number[]> = { tls: [], plaintext: [] };
  for (const c of Object.values(chains)) for (let i = 0; i < 200; i++) await c.call(request); // warm-up: JIT, connections
  const ROUND = 100;
  for (let done = 0; done < CALLS; done += ROUND) {
    for (const [name, c] of Object.entries(chains) as Array<[keyof typeof chains, Chain]>) {
      for (let i = 0; i < ROUND; i++) {
        const t0 = performance.now();
        await c.call(request);
        samples[name].push(performance.now() - t0);
      }
    }
  }
  for (const c of Object.values(chains)) await c.close();

  // A new connection's first call: the handshake (TLS 1.3, ECDSA P-256, client certificate) included.
  const firstCall: Record<"tls" | "plaintext", number[]> = { tls: [], plaintext: [] };
  for (const tls of [true, false]) {
    const server = new grpc.Server();
    addService(server, ShardService, { shardSearch: async () => ({ hits: [] }), shardStatus: async () => ({}), listTemplates: async () => ({ ids: [] }) }, logger);
    const port = await bind(server, tls ? serverCredentials(pki.issue("shard", "bench-new-conn"), { requireClientCert: true }) : grpc.ServerCredentials.createInsecure());
    // The server's certificate watcher reads its files just after bind: wait for the first answer.
    for (let ready = false; !ready; ) {
      const probe = rawShardClient(`127.0.0.1:${port}`, tls ? channelCredentials(pki.admin) : grpc.credentials.createInsecure());
      ready = await probe.call(request).then(() => true, () => new Promise<boolean>((r) => setTimeout(() => r(false), 50)));
      probe.close();
    }
    for (let i = 0; i < 60; i++) {
      const client = rawShardClient(`127.0.0.1:${port}`, tls ? channelCredentials(pki.admin) : grpc.credentials.createInsecure());
      const t0 = performance.now();
      await client.call(request);
      if (i >= 10) firstCall[tls ? "tls" : "plaintext"].push(performance.now() - t0);
      client.close();
    }
    server.forceShutdown();
  }
  return {
    warmTwoHops: { tls: summary(samples.tls), plaintext: summary(samples.plaintext) },
    newConnectionFirstCall: { tls: summary(firstCall.tls), plaintext: summary(firstCall.plaintext) },
  };
}

async function realCluster(basePort: number) {
  const dir = mkdtempSync(join(tmpdir(), "taj-tls-cost-"));
  const cluster = await startLocalCluster({ dir, basePort, shardsPerSite: 1, extractors: 1, partitionCount: 8, logLevel: "warn" });
  try {
    const GALLERY = 5_000;
    const nc = await connect({ ...cluster.natsOptions(), name: "tls-cost" });
    const templates = Array.from({ length: GALLERY }, (_, i) => Float32Array.from(unitTemplate(1000 + i)));
    await publishRange(nc.jetstream(), cluster.partitionCount, 0, GALLERY, (i) => templates[i]!);
    await nc.close();
    const coordinator = createClient(CoordinatorService, cluster.addresses.coordinators["a"]!, cluster.credentials());
    // Until every partition answers with the whole gallery loaded.
    for (let i = 0; i < 600; i++) {
      const status = await coordinator.clusterStatus({});
      const total = status.shards.filter((s) => s.site === "a").reduce((n, s) => n + (s.status?.counts ?? []).reduce((m, c) => m + Number(c.templates), 0), 0);
      if (total >= GALLERY) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const probe = unitTemplate(1000 + 42);
    const search = () => coordinator.coordinatedSearch({ modality: Modality.FACE, template: probe, similarityThreshold: -1, maxCandidates: 20, mode: SearchMode.EXHAUSTIVE }, { timeoutMs: 5_000 });
    for (let i = 0; i < 30; i++) await search();
    const coordinatorMs: number[] = [];
    for (let i = 0; i < CLUSTER_SEARCHES; i++) {
      const t0 = performance.now();
      await search();
      coordinatorMs.push(performance.now() - t0);
    }
    coordinator.close();

    const gateway = createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("client"));
    const photo = (await loadSamplePhotos()).find((p) => p.name === "sample1")!;
    // The photo holds several faces: the first answer (MULTIPLE_FACES) names them; search the first.
    const faceBox = await gateway.search({ modality: Modality.FACE, image: photo.bytes, caseRef: "BENCH-TLS" }).then(
      (r) => r.probeQuality?.box,
      (err: unknown) => AppError.from(err).faces[0],
    );
    const gatewayMs: number[] = [];
    const gatewayRuns = Math.min(60, CLUSTER_SEARCHES);
    for (let i = 0; i < gatewayRuns; i++) {
      const t0 = performance.now();
      await gateway.search({ modality: Modality.FACE, image: photo.bytes, caseRef: "BENCH-TLS", maxCandidates: 20, ...(faceBox ? { faceBox } : {}) }, { timeoutMs: 10_000 });
      gatewayMs.push(performance.now() - t0);
    }
    gateway.close();
    return { gallery: GALLERY, coordinatedSearch: summary(coordinatorMs), gatewaySearchWithExtraction: summary(gatewayMs) };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const pkiDir = mkdtempSync(join(tmpdir(), "taj-tls-cost-pki-"));
const pki = createPki(pkiDir);
const started = new Date();
// The machine is shared (2 cores): the load average says how much the tails owe to neighbours.
const loadBefore = loadavg()[0]!;
const local = await inProcess(pki);
const cluster = args["skip-cluster"] ? undefined : await realCluster(Number(args["base-port"]));
rmSync(pkiDir, { recursive: true, force: true });

const f = (x: number) => x.toFixed(3);
const rows: string[][] = [["measure", "n", "p50 ms", "p90 ms", "p99 ms", "mean ms"]];
const row = (name: string, s: ReturnType<typeof summary>) => rows.push([name, String(s.n), f(s.p50), f(s.p90), f(s.p99), f(s.mean)]);
row("2 hops, 512-float request, mTLS", local.warmTwoHops.tls);
row("2 hops, 512-float request, plaintext", local.warmTwoHops.plaintext);
row("new connection + first call, mTLS", local.newConnectionFirstCall.tls);
row("new connection + first call, plaintext", local.newConnectionFirstCall.plaintext);
if (cluster) {
  row(`cluster CoordinatedSearch (${cluster.gallery} templates), mTLS`, cluster.coordinatedSearch);
  row("cluster gateway Search of a photo (extraction incl.), mTLS", cluster.gatewaySearchWithExtraction);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
const table = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
const delta = {
  p50Ms: local.warmTwoHops.tls.p50 - local.warmTwoHops.plaintext.p50,
  p99Ms: local.warmTwoHops.tls.p99 - local.warmTwoHops.plaintext.p99,
};
const loadAfter = loadavg()[0]!;
console.log(table);
console.log(`\nload average (1 min) before/after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} on 2 cores`);
console.log(`\nmTLS cost over two warm hops: p50 ${delta.p50Ms >= 0 ? "+" : ""}${f(delta.p50Ms)} ms, p99 ${delta.p99Ms >= 0 ? "+" : ""}${f(delta.p99Ms)} ms`);

const outDir = join(repoRoot, "bench", "results");
mkdirSync(outDir, { recursive: true });
const out = join(outDir, "tls-cost.json");
writeFileSync(out, `${JSON.stringify({ started: started.toISOString(), loadAverage1m: { before: loadBefore, after: loadAfter }, calls: CALLS, inProcess: local, cluster, delta, table }, null, 2)}\n`);
writeFileSync(join(outDir, "tls-cost.txt"), `${table}\n\nload average (1 min) before/after: ${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} on 2 cores\n`);
console.log(`\nwritten: ${out}`);
