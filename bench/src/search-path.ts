// `npm run bench:search-path -- [--rounds 30] [--per-round 200] [--calls 2000] [--shards 2] [--out bench/results]`:
// the fixed costs of one search besides the extraction and the scan, in one process and one run
// (microbenchmarks: compare the ratios, not the absolute numbers, with another machine's):
//  1. protobuf-es encode and decode of every message that carries the template on a search's
//     way (ExtractResponse, CoordinatedSearchRequest, ShardSearchRequest), the template as the
//     deprecated `repeated float` vs as `bytes template_f32`, each with what its writer and reader
//     do besides (the codec of packages/common); the two interleaved round by round;
//  2. one gRPC round trip over loopback, with the project's own server and client (common's
//     startGrpcServer/createClient, mutual TLS as deployed): a trivial ShardStatus, and a
//     ShardSearch carrying the template either way (empty answer);
//  3. the shard's worker hand-off: a postMessage round trip to a worker thread with the probe as
//     an Int8Array of 512 (structured clone, as services/shard/src/index/client.ts sends it).
// Prints a table, writes <out>/search-path.json.
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import {
  CoordinatedSearchRequestSchema, ExtractResponseSchema, Modality, SearchMode, ShardSearchRequestSchema, ShardService,
} from "@taj/proto";
import {
  addService, channelCredentials, createClient, createLogger, encodeTemplateF32, serverCredentials, startGrpcServer, wireTemplate,
} from "@taj/common";
import { sharedTestPki } from "@taj/devcluster";

const { values: args } = parseArgs({
  options: {
    rounds: { type: "string", default: "30" },
    "per-round": { type: "string", default: "200" },
    calls: { type: "string", default: "2000" },
    shards: { type: "string", default: "2" },
    out: { type: "string", default: join(import.meta.dirname, "..", "results") },
  },
});
const ROUNDS = Number(args.rounds), PER_ROUND = Number(args["per-round"]), CALLS = Number(args.calls), SHARDS = Number(args.shards);
if (![ROUNDS, PER_ROUND, CALLS, SHARDS].every((n) => Number.isInteger(n) && n > 0)) {
  console.error("--rounds, --per-round, --calls and --shards take positive integers");
  process.exit(64);
}
const log = (m: string) => process.stderr.write(`[search-path] ${m}\n`);

const DIM = 512;
const template = (() => {
  let x = 7;
  const v = Float32Array.from({ length: DIM }, () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5);
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
})();

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const summary = (samples: number[]) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p90: pct(s, 90), min: s[0]! };
};

// --- 1. protobuf encode + decode -------------------------------------------------------------
type Encoding = "float" | "bytes";
interface MessageCase {
  name: string;
  /** Per search: how many times it is written and read (one ShardSearchRequest per shard called). */
  perSearch: number;
  schema: DescMessage;
  /** The message as its writer fills it, template included: the writer's own work is timed too. */
  init(encoding: Encoding): MessageInitShape<DescMessage>;
}
const templateField = (e: Encoding) => (e === "float" ? { template: Array.from(template) } : { templateF32: encodeTemplateF32(template) });
const cases: MessageCase[] = [
  {
    name: "ExtractResponse", perSearch: 1, schema: ExtractResponseSchema,
    init: (e) => ({
      ...templateField(e), modelId: "faceplugin-fr-feature-512/align5-v1",
      quality: { box: { xPx: 412, yPx: 230, widthPx: 311, heightPx: 388 }, detectionScore: 0.998, interOcularPx: 121.5, imageWidthPx: 1920, imageHeightPx: 1080 },
      timings: { decodeMs: 12.1, detectMs: 30.2, landmarksMs: 4.3, embedMs: 41.7 },
    }),
  },
  {
    name: "CoordinatedSearchRequest", perSearch: 1, schema: CoordinatedSearchRequestSchema,
    init: (e) => ({ modality: Modality.FACE, ...templateField(e), similarityThreshold: 0.4, maxCandidates: 20, mode: SearchMode.APPROXIMATE }),
  },
  {
    name: "ShardSearchRequest", perSearch: SHARDS, schema: ShardSearchRequestSchema,
    init: (e) => ({ modality: Modality.FACE, partitions: [0, 2, 4, 6, 8, 10, 12, 14], ...templateField(e), k: 40, mode: SearchMode.APPROXIMATE }),
  },
];

/** Mean microseconds per call of `fn` over `n` calls. */
function perCall(n: number, fn: () => unknown): number {
  let sink = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) if (fn() !== undefined) sink++;
  const us = ((performance.now() - t0) * 1000) / n;
  if (sink < 0) throw new Error("unreachable");
  return us;
}

function protobufCosts() {
  return cases.map((c) => {
    const samples: Record<Encoding, { encode: number[]; decode: number[] }> = { float: { encode: [], decode: [] }, bytes: { encode: [], decode: [] } };
    const wire: Record<Encoding, Uint8Array> = {
      float: toBinary(c.schema, create(c.schema, c.init("float"))),
      bytes: toBinary(c.schema, create(c.schema, c.init("bytes"))),
    };
    // The reader's whole job: the message, then its template through common's codec (validated).
    const read = (bytes: Uint8Array) => wireTemplate(fromBinary(c.schema, bytes) as unknown as Parameters<typeof wireTemplate>[0]);
    for (const e of ["float", "bytes"] as const) assertSame(read(wire[e]), c.name); // and a warm-up
    for (let r = 0; r < ROUNDS + 2; r++) {
      for (const e of ["float", "bytes"] as const) {
        const encode = perCall(PER_ROUND, () => toBinary(c.schema, create(c.schema, c.init(e))));
        const decode = perCall(PER_ROUND, () => read(wire[e]));
        if (r >= 2) {
          samples[e].encode.push(encode);
          samples[e].decode.push(decode);
        }
      }
    }
    return {
      message: c.name, perSearch: c.perSearch, wireBytes: { float: wire.float.length, bytes: wire.bytes.length },
      float: { encodeUs: summary(samples.float.encode), decodeUs: summary(samples.float.decode) },
      bytes: { encodeUs: summary(samples.bytes.encode), decodeUs: summary(samples.bytes.decode) },
    };
  });
}

function assertSame(read: Float32Array, name: string): void {
  if (read.length !== DIM || read.some((x, i) => x !== template[i])) throw new Error(`${name}: the template did not come back intact`);
}

// --- 2. gRPC round trip ----------------------------------------------------------------------
async function grpcCosts() {
  const pki = sharedTestPki();
  const logger = createLogger("search-path", "silent");
  const server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", "bench-shard"), { requireClientCert: true }),
    register: (s) => addService(s, ShardService, {
      shardSearch: async (req) => ({ hits: [], appliedSequence: BigInt(wireTemplate(req).length) }),
      shardStatus: async () => ({}),
      listTemplates: async () => ({ ids: [] }),
    }, logger),
  });
  const client = createClient(ShardService, `127.0.0.1:${server.port}`, channelCredentials(pki.issue("coordinator", "bench-coordinator")));
  try {
    const search = (e: Encoding) => () =>
      client.shardSearch({ modality: Modality.FACE, partitions: [0, 2, 4, 6], ...templateField(e), k: 40, mode: SearchMode.APPROXIMATE }, { timeoutMs: 5_000 });
    const calls = { status: () => client.shardStatus({}, { timeoutMs: 5_000 }), searchFloat: search("float"), searchBytes: search("bytes") };
    const samples: Record<keyof typeof calls, number[]> = { status: [], searchFloat: [], searchBytes: [] };
    for (const call of Object.values(calls)) for (let i = 0; i < 200; i++) await call(); // connection, JIT
    const ROUND = 50;
    for (let done = 0; done < CALLS; done += ROUND) {
      for (const [name, call] of Object.entries(calls) as Array<[keyof typeof calls, () => Promise<unknown>]>) {
        for (let i = 0; i < ROUND; i++) {
          const t0 = performance.now();
          await call();
          samples[name].push((performance.now() - t0) * 1000);
        }
      }
    }
    return { trivialShardStatusUs: summary(samples.status), shardSearchFloatUs: summary(samples.searchFloat), shardSearchBytesUs: summary(samples.searchBytes) };
  } finally {
    client.close();
    await server.shutdown(100);
  }
}

// --- 3. worker hand-off ----------------------------------------------------------------------
async function workerCosts() {
  // Answers like the index worker: the request's id and a top-k of 10 hits.
  const worker = new Worker(
    `const { parentPort } = require("node:worker_threads");
     const hits = Array.from({ length: 10 }, (_, i) => ({ id: "rec-" + i, similarity: 0.9 - i / 100 }));
     parentPort.on("message", (m) => parentPort.postMessage({ id: m.id, ok: true, value: { results: [{ partition: 0, hits, checksum: m.req.query[0] }] } }));`,
    { eval: true },
  );
  try {
    let next = 0;
    const pending = new Map<number, () => void>();
    worker.on("message", (m: { id: number }) => pending.get(m.id)?.());
    const roundTrip = () => new Promise<void>((resolve) => {
      const id = next++;
      pending.set(id, () => {
        pending.delete(id);
        resolve();
      });
      worker.postMessage({ id, req: { op: "search", modality: "face", partitions: [0, 2, 4, 6], query: new Int8Array(DIM).fill(3), k: 40, exhaustive: false, bodyLocations: [] } });
    });
    for (let i = 0; i < 500; i++) await roundTrip();
    const samples: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await roundTrip();
      samples.push((performance.now() - t0) * 1000);
    }
    return { postMessageRoundTripUs: summary(samples) };
  } finally {
    await worker.terminate();
  }
}

log(`protobuf: ${ROUNDS} rounds of ${PER_ROUND} per message and encoding`);
const protobuf = protobufCosts();
log(`gRPC: ${CALLS} calls each over loopback (mutual TLS)`);
const grpcRoundTrip = await grpcCosts();
log(`worker hand-off: ${CALLS} postMessage round trips`);
const workerHandOff = await workerCosts();

const us = (x: number) => `${x.toFixed(1)} us`;
const perSearch = (e: Encoding) => protobuf.reduce((sum, m) => sum + m.perSearch * (m[e].encodeUs.p50 + m[e].decodeUs.p50), 0);
const perSearchFloat = perSearch("float"), perSearchBytes = perSearch("bytes");
const lines = [
  `fixed costs of a search, in process, one run (p50 of ${ROUNDS} rounds; load average ${loadavg().map((l) => l.toFixed(1)).join(" ")})`,
  "",
  "protobuf-es, 512-d template       per search   encode float  encode bytes   decode float  decode bytes   wire B float/bytes",
  ...protobuf.map((m) =>
    [m.message.padEnd(32), String(m.perSearch).padStart(10), us(m.float.encodeUs.p50).padStart(13), us(m.bytes.encodeUs.p50).padStart(13),
      us(m.float.decodeUs.p50).padStart(14), us(m.bytes.decodeUs.p50).padStart(13), `${m.wireBytes.float}/${m.wireBytes.bytes}`.padStart(20)].join(" "),
  ),
  `all template-carrying encodes + decodes of one search (${SHARDS} shard calls): float ${us(perSearchFloat)}, bytes ${us(perSearchBytes)} (${(perSearchFloat / perSearchBytes).toFixed(0)}x)`,
  "  (encode = the writer's create + toBinary, template conversion included; decode = fromBinary + common's wireTemplate)",
  "",
  "gRPC round trip, loopback, mutual TLS, common's server + client       p50        p90",
  `  ShardStatus (trivial)                                        ${us(grpcRoundTrip.trivialShardStatusUs.p50).padStart(10)} ${us(grpcRoundTrip.trivialShardStatusUs.p90).padStart(10)}`,
  `  ShardSearch, template as repeated float (empty answer)       ${us(grpcRoundTrip.shardSearchFloatUs.p50).padStart(10)} ${us(grpcRoundTrip.shardSearchFloatUs.p90).padStart(10)}`,
  `  ShardSearch, template as bytes (empty answer)                ${us(grpcRoundTrip.shardSearchBytesUs.p50).padStart(10)} ${us(grpcRoundTrip.shardSearchBytesUs.p90).padStart(10)}`,
  "",
  `worker hand-off (postMessage round trip, Int8Array(512) probe, 10 hits back): p50 ${us(workerHandOff.postMessageRoundTripUs.p50)}, p90 ${us(workerHandOff.postMessageRoundTripUs.p90)}`,
];
const table = lines.join("\n");
mkdirSync(args.out, { recursive: true });
const out = join(args.out, "search-path.json");
writeFileSync(out, JSON.stringify({
  createdAt: new Date().toISOString(), loadAverage: loadavg(), node: process.version, rounds: ROUNDS, perRound: PER_ROUND, calls: CALLS, shards: SHARDS, dimensions: DIM,
  protobuf, perSearchTemplateCodecUs: { float: perSearchFloat, bytes: perSearchBytes }, grpcRoundTrip, workerHandOff,
}, null, 2) + "\n");
console.log(table);
log(`wrote ${out}`);
