// Hostile input (issue 8): over ten thousand generated malformed requests against the public API
// of a real local cluster. Every one must get a clean error with its stable code, every process
// must stay up and SERVING, and nothing stored may change. Seeded: FUZZ_SEED replays a run.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { MatchingService, Modality, SearchMode } from "@taj/proto";
import { createClient, type ServiceClient } from "@taj/common";
import { checkHealth, startLocalCluster, type LocalCluster } from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos, renderFace, searchFace, type EnrolledFace } from "@taj/samples";
import { generateCases, generators, type FuzzCase } from "./fuzz/cases.ts";
import { RawClient, http2Call, http2Connect, type Outcome } from "./fuzz/client.ts";
import { baseImages, pngBomb } from "./fuzz/images.ts";
import { judge } from "./fuzz/oracle.ts";
import { Random } from "./fuzz/random.ts";
import { Tally, pool } from "./fuzz/report.ts";
import { enrollBody, pathOf, searchBody, FACE } from "./fuzz/requests.ts";

const SEED = Number(process.env["FUZZ_SEED"] ?? 20261202);
const CONCURRENCY = 12;
const MAX_IMAGE_BYTES = 15 * 1024 * 1024; // the gateway's default, set explicitly so the cases know it
const CALL_TIMEOUT_MS = 60_000;

const clusterDir = mkdtempSync(join(tmpdir(), "taj-fuzz-"));
let cluster: LocalCluster;
let gateway: ServiceClient<typeof MatchingService.method>;
let raw: RawClient;
const enrolled: EnrolledFace[] = [];

before(async () => {
  cluster = await startLocalCluster({
    dir: clusterDir,
    basePort: 26000,
    shardsPerSite: 1,
    partitionCount: 8,
    extractors: 1,
    serviceEnv: { gateway: { MAX_IMAGE_BYTES: String(MAX_IMAGE_BYTES), REQUEST_TIMEOUT_MS: "30000" } },
  });
  gateway = createClient(MatchingService, cluster.addresses.gateway);
  raw = new RawClient(cluster.addresses.gateway);
  let serial = 0;
  for (const photo of (await loadSamplePhotos()).slice(0, 3)) {
    const result = await enrollAllFaces(gateway, photo, () => `FZ-BASE-${String(++serial).padStart(4, "0")}`);
    enrolled.push(...result.enrolled);
  }
  await eventually(() => gateway.stats({}), (s) => s.shards.every((sh) => sh.alive && sh.appliedSequence >= s.logLastSequence));
});

after(async () => {
  raw?.close();
  gateway?.close();
  await cluster?.stop();
  rmSync(clusterDir, { recursive: true, force: true });
});

/** What is stored, as seen from outside: counts, log position, each record, and ranked searches. */
async function storedState(): Promise<unknown> {
  const stats = await gateway.stats({});
  const records = await Promise.all(enrolled.map(async (f) => {
    const r = await gateway.get({ modality: Modality.FACE, id: f.id });
    return [r.id, r.logSequence, r.templateDimensions];
  }));
  const searches = [];
  for (const face of enrolled.slice(0, 4)) {
    const [probe] = await renderFace(face.bytes, face.box, face.interOcularPx);
    const answer = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: -1, maxCandidates: 200, mode: SearchMode.EXHAUSTIVE });
    searches.push(answer.candidates.map((c) => [c.id, c.similarity]));
  }
  return {
    logLastSequence: stats.logLastSequence,
    shards: stats.shards.map((s) => ({ id: s.shardId, alive: s.alive, applied: s.appliedSequence, counts: s.counts.map((c) => [c.modality, c.templates]) })),
    uncovered: stats.uncovered,
    records,
    searches,
  };
}

describe("hostile input", () => {
  test(`at least 10 000 malformed requests all get clean errors, and nothing changes (seed ${SEED})`, async () => {
    assert.ok(enrolled.length >= 5, `only ${enrolled.length} sample faces enrolled`);
    const before = await storedState();

    const rng = new Random(SEED);
    let fresh = 0;
    const ctx = {
      rng,
      images: await baseImages(rng),
      facePhoto: enrolled[0]!.bytes,
      maxImageBytes: MAX_IMAGE_BYTES,
      freshId: () => `FUZZ-${String(++fresh).padStart(6, "0")}`,
    };
    // Inflates past the gateway's receive limit; compressed it is ~30 KiB.
    const gzipBomb = gzipSync(Buffer.alloc(MAX_IMAGE_BYTES + 1024 * 1024));
    const cases = generateCases(ctx, generators({ gzipBomb, pngBombs: [pngBomb(8000), pngBomb(6000)] }));
    // Stats takes an empty message: a body of unknown fields is well-formed protobuf and rightly
    // answered OK. Those few are sent too, but do not count towards the 10 000 malformed requests.
    const malformed = cases.filter((c) => !c.expect.includes("OK")).length;
    assert.ok(malformed >= 10_000, `${malformed} malformed cases`);

    const tally = new Tally();
    const failures: string[] = [];
    const session = http2Connect(cluster.addresses.gateway);
    const started = performance.now();
    let slowest = 0;
    await pool(cases, CONCURRENCY, async (c: FuzzCase, i) => {
      const outcome: Outcome = c.framing
        ? await http2Call(session, pathOf(c.method), c.framing.headers, c.framing.body, CALL_TIMEOUT_MS)
        : await raw.call(pathOf(c.method), c.body, {
          timeoutMs: CALL_TIMEOUT_MS,
          ...(c.metadata ? { metadata: c.metadata } : {}),
          ...(c.profile ? { profile: c.profile } : {}),
        });
      slowest = Math.max(slowest, outcome.ms);
      tally.add(c.category, outcome.code || `status ${outcome.status}`);
      const why = judge(c, outcome);
      if (why) failures.push(`#${i} ${c.category} / ${c.method} / ${c.note}: ${why}`);
    });
    session.close();
    const seconds = (performance.now() - started) / 1000;
    console.log(`fuzz: ${cases.length} requests (${malformed} malformed, the others well-formed Stats) in ${seconds.toFixed(1)} s (${(cases.length / seconds).toFixed(0)}/s, concurrency ${CONCURRENCY}, slowest ${slowest.toFixed(0)} ms), seed ${SEED}\n${tally.table()}`);
    assert.deepEqual(failures.slice(0, 40), [], `${failures.length} of ${cases.length} answers were not clean`);

    for (const [name, proc] of Object.entries(cluster.processes)) {
      assert.ok(proc.pid !== undefined, `${name} died: ${proc.process.deathNote() ?? ""}`);
    }
    const grpcServers = [
      ...Object.values(cluster.addresses.gateways), ...Object.values(cluster.addresses.coordinators),
      ...cluster.addresses.extractors, ...Object.values(cluster.addresses.shards),
    ];
    for (const address of grpcServers) assert.equal(await checkHealth(address), "SERVING", address);
    assert.deepEqual(await storedState(), before, "stored state changed");

    // Nothing logged at error level or above: a handler that failed in an unexpected way logs there.
    const errors = Object.values(cluster.processes)
      .filter((p) => /^(gateway|extractor|coordinator|shard)-/.test(p.name))
      .flatMap((p) => readFileSync(p.process.spec.logFile, "utf8").split("\n").filter((line) => errorLevel(line)).map((line) => `${p.name}: ${line.slice(0, 300)}`));
    assert.deepEqual(errors.slice(0, 10), [], `${errors.length} error lines in the service logs`);
  });

  test("the gateway's message limit follows MAX_IMAGE_BYTES: IMAGE_TOO_LARGE on both sides of the transport cap", async () => {
    const path = pathOf("Enroll");
    const answer = (image: Buffer) => raw.call(path, enrollBody({ modality: FACE, id: "FUZZ-LIMIT-1", image }), { timeoutMs: CALL_TIMEOUT_MS });
    // Exactly MAX_IMAGE_BYTES: accepted by the gateway and sent on to the extractor, which finds no image in it.
    const atLimit = await answer(Buffer.alloc(MAX_IMAGE_BYTES, 0x41));
    assert.equal(atLimit.code, "IMAGE_UNSUPPORTED_FORMAT", JSON.stringify(atLimit));
    // One byte over: the handler refuses it.
    const over = await answer(Buffer.alloc(MAX_IMAGE_BYTES + 1, 0x41));
    assert.equal(over.code, "IMAGE_TOO_LARGE");
    assert.equal(over.details, `IMAGE_TOO_LARGE: image exceeds ${MAX_IMAGE_BYTES} bytes`);
    // Past the receive limit (MAX_IMAGE_BYTES + 64 KiB): grpc-js refuses it from the length
    // prefix, with the same code and the same message.
    for (const size of [MAX_IMAGE_BYTES + 64 * 1024 + 1, 3 * MAX_IMAGE_BYTES]) {
      const beyond = await answer(Buffer.alloc(size, 0x41));
      assert.equal(beyond.status, 8, "RESOURCE_EXHAUSTED");
      assert.equal(beyond.code, "IMAGE_TOO_LARGE", JSON.stringify(beyond));
      assert.equal(beyond.details, over.details, "the transport names the image limit, not its own");
    }
    const search = await raw.call(pathOf("Search"), searchBody({ modality: FACE, image: Buffer.alloc(MAX_IMAGE_BYTES * 2) }), { timeoutMs: CALL_TIMEOUT_MS });
    assert.equal(search.code, "IMAGE_TOO_LARGE");
    console.log(`a ${MAX_IMAGE_BYTES * 2}-byte Search was refused in ${search.ms.toFixed(0)} ms`);
    // The connection that carried the refused requests still serves calls.
    assert.equal((await raw.call(pathOf("Stats"), Buffer.alloc(0), { timeoutMs: CALL_TIMEOUT_MS })).code, "OK");
    assert.equal(await checkHealth(cluster.addresses.gateway), "SERVING");
  });

  test("an unknown method path gets UNIMPLEMENTED from grpc-js (it exists before any call, so no code trailer)", async () => {
    const answer = await raw.call("/taj.v1.MatchingService/Nope", Buffer.alloc(0), { timeoutMs: CALL_TIMEOUT_MS });
    assert.equal(answer.status, 12);
    assert.equal(answer.code, "");
  });
});

/** A pino JSON line at level error (50) or fatal (60); other output (e.g. a native crash message) counts too. */
function errorLevel(line: string): boolean {
  if (line.trim() === "") return false;
  try {
    const level = (JSON.parse(line) as { level?: unknown }).level;
    return typeof level === "number" && level >= 50;
  } catch {
    return true;
  }
}

async function eventually<T>(fn: () => Promise<T>, done: (value: T) => boolean, attempts = 100): Promise<T> {
  let value = await fn();
  for (let i = 1; i < attempts && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await fn();
  }
  return value;
}
