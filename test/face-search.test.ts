// End to end over gRPC against a real two-site local cluster: real nats-server and etcd
// processes, real extractor models, real shards.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import {
  CoordinatorService, ErrorCode, type Box, ExtractorService, MatchingService, Modality, SearchMode, ShardService,
} from "@taj/proto";
import { AppError, createClient, encodeTemplateF32, partitionOf, wireTemplate, type ServiceClient } from "@taj/common";
import { startLocalCluster, withCallMetadata, type LocalCluster } from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos, renderFace, searchFace, type EnrolledFace } from "@taj/samples";

const PARTITIONS = 16;
const clusterDir = mkdtempSync(join(tmpdir(), "taj-it-"));
let cluster: LocalCluster;
let gateway: ServiceClient<typeof MatchingService.method>;
const enrolled: EnrolledFace[] = [];

function isCode(code: ErrorCode) {
  return (e: unknown) => e instanceof AppError && e.code === code;
}

before(async () => {
  cluster = await startLocalCluster({
    dir: clusterDir,
    basePort: 21000,
    shardsPerSite: 2,
    partitionCount: PARTITIONS,
    extractors: 1,
    shardEnv: { SNAPSHOT_INTERVAL_MS: "1500" },
  });
  // One caller with every role: this test is about search, not about roles (see the gateway's auth tests).
  const caller = await cluster.issuer.metadata({ sub: "face-search-test", roles: ["search", "enroll", "admin", "audit"] });
  gateway = withCallMetadata(createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("bearer")), caller);
  let serial = 0;
  for (const photo of await loadSamplePhotos()) {
    const result = await enrollAllFaces(gateway, photo, () => `IT${String(++serial).padStart(5, "0")}`);
    enrolled.push(...result.enrolled);
  }
  await caughtUp();
});

/** Waits until every live replica has applied the whole template log. */
async function caughtUp(): Promise<void> {
  const stats = await eventually(
    () => gateway.stats({}),
    (s) => s.shards.length > 0 && s.shards.every((sh) => sh.alive && sh.appliedSequence >= s.logLastSequence),
  );
  assert.ok(stats.shards.every((sh) => sh.appliedSequence >= stats.logLastSequence), "replicas caught up with the log");
}

after(async () => {
  gateway?.close();
  await cluster?.stop();
  rmSync(clusterDir, { recursive: true, force: true });
});

describe("face search end to end", () => {
  test("every face of the sample photos is enrolled", () => {
    // The six photos hold about twenty faces; a few may be rightly refused as too small.
    assert.ok(enrolled.length >= 15, `only ${enrolled.length} faces enrolled`);
  });

  test("each enrolled face is found at rank 1 from other renderings of it", async () => {
    // Four renderings per face (rescaled, recompressed, cropped otherwise, rotated). The face
    // models shipped with the package are not robust to everything: one down-looking face loses
    // its landmarks on the off-centre crop (the face-quality check may then refuse the probe).
    // So: every face at rank 1 from at least three of its four renderings, and at least 95 % of
    // all probes at rank 1; misses and refusals are listed.
    const misses: string[] = [];
    let probes = 0;
    for (const face of enrolled) {
      let found = 0;
      const renderings = await renderFace(face.bytes, face.box, face.interOcularPx);
      for (const probe of renderings) {
        let answer;
        try {
          answer = await searchFace(gateway, probe.bytes, probe.faceCentre, { threshold: 0, maxCandidates: 5 });
        } catch (err) {
          // The face-quality check refusing a probe whose landmarks were lost is a miss, not a
          // wrong answer: better than searching with a template of no face.
          if (!(err instanceof AppError) || err.code !== ErrorCode.FACE_QUALITY_LOW) throw err;
          probes++;
          misses.push(`${face.id}/${probe.kind} -> refused: ${err.message}`);
          continue;
        }
        assert.equal(answer.complete, true);
        assert.equal(answer.partitionCount, PARTITIONS);
        probes++;
        if (answer.candidates[0]?.id === face.id) found++;
        else misses.push(`${face.id}/${probe.kind} -> ${answer.candidates.map((c) => `${c.id}:${c.similarity.toFixed(3)}`).join(" ")}`);
      }
      assert.ok(found >= renderings.length - 1, `${face.id} found at rank 1 from only ${found} of ${renderings.length} renderings: ${misses.join("; ")}`);
    }
    assert.ok(misses.length <= probes * 0.05, `rank-1 misses: ${misses.join("; ")}`);
    if (misses.length > 0) console.log(`rank-1 misses (${misses.length}/${probes}): ${misses.join("; ")}`);
  });

  test("exhaustive mode finds the same rank-1 faces", async () => {
    for (const face of enrolled.slice(0, 5)) {
      const [probe] = await renderFace(face.bytes, face.box, face.interOcularPx);
      const answer = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: 0, mode: SearchMode.EXHAUSTIVE });
      assert.equal(answer.candidates[0]?.id, face.id);
      assert.equal(answer.mode, SearchMode.EXHAUSTIVE);
    }
  });

  test("every_face: a group photo answered per face, each face's rank 1 the id enrolled from its box, in one audit event", async () => {
    const group = enrolled.find((f) => enrolled.filter((g) => g.photo === f.photo).length > 2)!;
    const members = enrolled.filter((f) => f.photo === group.photo);
    const res = await gateway.search({ caseRef: "IT-CCTV-1", modality: Modality.FACE, image: group.bytes, everyFace: true, maxCandidates: 3 });
    assert.equal(res.faces.length, members.length, "every face enrolled from the photo is searched");
    assert.equal(res.candidates.length, 0);
    const overlap = (a: Box, b: Box) => {
      const w = Math.min(a.xPx + a.widthPx, b.xPx + b.widthPx) - Math.max(a.xPx, b.xPx);
      const h = Math.min(a.yPx + a.heightPx, b.yPx + b.heightPx) - Math.max(a.yPx, b.yPx);
      return w > 0 && h > 0 ? (w * h) / (a.widthPx * a.heightPx + b.widthPx * b.heightPx - w * h) : 0;
    };
    for (const face of res.faces) {
      assert.equal(face.error, undefined);
      const own = members.find((m) => overlap(m.box, face.quality!.box!) > 0.5);
      assert.ok(own, "each face answered is one that was enrolled");
      assert.equal(face.candidates[0]?.id, own.id, "its rank 1 is the id enrolled from that face");
    }
    const events = await gateway.queryAudit({ caseRef: "IT-CCTV-1", pageSize: 10 });
    const searches = events.entries.filter((e) => e.event?.rpc === "Search");
    assert.equal(searches.length, 1, "one audit event for the whole still");
    assert.equal(searches[0]!.event!.search!.faces.length, members.length);
  });

  test("threshold and max_candidates are respected", async () => {
    const face = enrolled[0]!;
    const [probe] = await renderFace(face.bytes, face.box, face.interOcularPx);
    const all = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: -1, maxCandidates: 200 });
    assert.equal(all.candidates.length, enrolled.length, "threshold -1 returns every enrolled face");
    const sims = all.candidates.map((c) => c.similarity);
    assert.deepEqual(sims, [...sims].sort((a, b) => b - a), "best first");
    assert.deepEqual(all.candidates.map((c) => c.rank), all.candidates.map((_, i) => i + 1));

    const three = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: -1, maxCandidates: 3 });
    assert.deepEqual(three.candidates.map((c) => c.id), all.candidates.slice(0, 3).map((c) => c.id));

    const cut = (sims[1]! + sims[2]!) / 2;
    const above = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: cut, maxCandidates: 200 });
    assert.deepEqual(above.candidates.map((c) => c.id), all.candidates.slice(0, 2).map((c) => c.id));
    assert.ok(above.candidates.every((c) => c.similarity >= cut));
  });

  test("re-enrolling an id replaces its template", async () => {
    const [first, second] = [enrolled[1]!, enrolled[2]!];
    const id = "IT-REPLACE-1";
    await gateway.enroll({ modality: Modality.FACE, id, image: first.bytes, faceBox: first.box });
    const [probeFirst] = await renderFace(first.bytes, first.box, first.interOcularPx);
    const before = await eventually(() => searchFace(gateway, probeFirst!.bytes, probeFirst!.faceCentre, { threshold: 0, maxCandidates: 3 }),
      (a) => a.candidates.slice(0, 2).some((c) => c.id === id));
    assert.ok(before.candidates.slice(0, 2).some((c) => c.id === id), "found as the first face");

    await gateway.enroll({ modality: Modality.FACE, id, image: second.bytes, faceBox: second.box });
    const [probeSecond] = await renderFace(second.bytes, second.box, second.interOcularPx);
    const nowSecond = await eventually(() => searchFace(gateway, probeSecond!.bytes, probeSecond!.faceCentre, { threshold: 0, maxCandidates: 3 }),
      (a) => a.candidates.slice(0, 2).some((c) => c.id === id));
    assert.ok(nowSecond.candidates.slice(0, 2).some((c) => c.id === id), "found as the second face");
    const nowFirst = await searchFace(gateway, probeFirst!.bytes, probeFirst!.faceCentre, { threshold: -1, maxCandidates: 200 });
    const rank = nowFirst.candidates.find((c) => c.id === id)?.rank ?? Infinity;
    assert.ok(rank > 2, `the first face no longer matches the replaced id (rank ${rank})`);
    await gateway.delete({ modality: Modality.FACE, id });
  });

  test("delete makes an id unfindable at both sites", async () => {
    const victim = enrolled[enrolled.length - 1]!;
    const [probe] = await renderFace(victim.bytes, victim.box, victim.interOcularPx);
    const extractor = createClient(ExtractorService, cluster.addresses.extractors[0]!, cluster.credentials());
    const probeTemplate = await extractTemplate(extractor, probe!.bytes, probe!.faceCentre);
    const partition = partitionOf(victim.id, PARTITIONS);

    const holders = ["a", "b"].flatMap((site) => cluster.shardsHolding(site, partition));
    assert.equal(holders.length, 2, "one replica of the partition per site");
    for (const address of holders) {
      const shard = createClient(ShardService, address, cluster.credentials());
      const listed = await shard.listTemplates({ modality: Modality.FACE, partition });
      assert.ok(listed.ids.includes(victim.id), `${address} holds the id before the delete`);
      shard.close();
    }

    const del = await gateway.delete({ modality: Modality.FACE, id: victim.id });
    assert.equal(del.existed, true);
    await assert.rejects(gateway.get({ modality: Modality.FACE, id: victim.id }), isCode(ErrorCode.NOT_FOUND));

    for (const site of ["a", "b"] as const) {
      const coordinator = createClient(CoordinatorService, cluster.addresses.coordinators[site]!, cluster.credentials());
      const answer = await eventually(
        () => coordinator.coordinatedSearch({ modality: Modality.FACE, templateF32: encodeTemplateF32(probeTemplate), similarityThreshold: -1, maxCandidates: 500, mode: SearchMode.EXHAUSTIVE }),
        (a) => !a.candidates.some((c) => c.id === victim.id),
      );
      assert.ok(!answer.candidates.some((c) => c.id === victim.id), `deleted id still found via site ${site}`);
      coordinator.close();
      // And every replica of its partition at that site, asked directly.
      for (const shardAddress of cluster.shardsHolding(site, partition)) {
        const shard = createClient(ShardService, shardAddress, cluster.credentials());
        const hits = await shard.shardSearch({ modality: Modality.FACE, partitions: [partition], templateF32: encodeTemplateF32(probeTemplate), k: 500, mode: SearchMode.EXHAUSTIVE });
        assert.ok(!hits.hits.some((h) => h.id === victim.id), `deleted id still found by ${shardAddress}`);
        const listed = await shard.listTemplates({ modality: Modality.FACE, partition });
        assert.ok(!listed.ids.includes(victim.id), `deleted id still held by ${shardAddress}`);
        shard.close();
      }
    }
    const again = await gateway.delete({ modality: Modality.FACE, id: victim.id });
    assert.equal(again.existed, false, "deleting an absent id succeeds and says so");
    extractor.close();
  });

  test("a shard killed with SIGKILL restarts from its snapshot plus the log tail and loses nothing", async () => {
    const shardId = "a1";
    const shard = createClient(ShardService, cluster.addresses.shards[shardId]!, cluster.credentials());
    const before = await shard.shardStatus({});
    shard.close();
    assert.ok(before.snapshotSequence > 0n, "a snapshot was taken");

    // Changes after the snapshot that only the log tail holds.
    const extra = enrolled[0]!;
    await gateway.enroll({ modality: Modality.FACE, id: "IT-AFTER-SNAPSHOT", image: extra.bytes, faceBox: extra.box });
    cluster.processes[`shard-${shardId}`]!.kill("SIGKILL");
    await cluster.processes[`shard-${shardId}`]!.restart();
    await cluster.waitForMember("a", shardId);

    const restarted = createClient(ShardService, cluster.addresses.shards[shardId]!, cluster.credentials());
    const after = await eventually(() => restarted.shardStatus({}), (s) => s.appliedSequence >= before.appliedSequence);
    const total = (s: typeof after) => s.counts.reduce((n, c) => n + c.templates, 0n);
    const twin = createClient(ShardService, cluster.addresses.shards["b1"]!, cluster.credentials());
    const twinStatus = await twin.shardStatus({});
    twin.close();
    restarted.close();
    // a1 and b1 hold the same partitions at the two sites: same templates after the restart.
    assert.deepEqual(after.partitions, twinStatus.partitions);
    assert.equal(total(after), total(twinStatus));

    const [probe] = await renderFace(extra.bytes, extra.box, extra.interOcularPx);
    const answer = await searchFace(gateway, probe!.bytes, probe!.faceCentre, { threshold: 0, maxCandidates: 5 });
    assert.ok(answer.candidates.slice(0, 2).some((c) => c.id === "IT-AFTER-SNAPSHOT"));
    assert.equal(answer.complete, true);
    await gateway.delete({ modality: Modality.FACE, id: "IT-AFTER-SNAPSHOT" });
  });
});

describe("every error case returns its own code", () => {
  const face = () => enrolled[0]!;

  test("invalid ids and modalities", async () => {
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id: "bad id!", image: face().bytes }), isCode(ErrorCode.INVALID_ID));
    await assert.rejects(gateway.get({ modality: Modality.FACE, id: "" }), isCode(ErrorCode.INVALID_ID));
    await assert.rejects(gateway.enroll({ modality: Modality.UNSPECIFIED, id: "X1", image: face().bytes }), isCode(ErrorCode.UNSUPPORTED_MODALITY));
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: 9 as Modality, image: face().bytes }), isCode(ErrorCode.UNSUPPORTED_MODALITY));
  });

  test("image errors", async () => {
    const id = "IT-ERR-1";
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: Buffer.alloc(0) }), isCode(ErrorCode.IMAGE_EMPTY));
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: Buffer.alloc(20 * 1024 * 1024, 1) }), isCode(ErrorCode.IMAGE_TOO_LARGE));
    const gif = await sharp({ create: { width: 64, height: 64, channels: 3, background: "#888" } }).gif().toBuffer();
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: gif }), isCode(ErrorCode.IMAGE_UNSUPPORTED_FORMAT));
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: Buffer.from("definitely not an image") }), isCode(ErrorCode.IMAGE_UNSUPPORTED_FORMAT));
    const truncated = face().bytes.subarray(0, Math.floor(face().bytes.length / 3));
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: truncated }), isCode(ErrorCode.IMAGE_CORRUPT));
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: await pngBomb() }), isCode(ErrorCode.IMAGE_TOO_LARGE));
    await assert.rejects(gateway.get({ modality: Modality.FACE, id }), isCode(ErrorCode.NOT_FOUND), "nothing was stored by failed enrolments");
  });

  test("face errors", async () => {
    const id = "IT-ERR-2";
    const blank = await sharp({ create: { width: 400, height: 300, channels: 3, background: "#6a8" } }).jpeg().toBuffer();
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: blank }), isCode(ErrorCode.NO_FACE));
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image: blank }), isCode(ErrorCode.NO_FACE));
    const group = enrolled.find((f) => enrolled.filter((g) => g.photo === f.photo).length > 1)!;
    await assert.rejects(gateway.enroll({ modality: Modality.FACE, id, image: group.bytes }), (e: unknown) =>
      e instanceof AppError && e.code === ErrorCode.MULTIPLE_FACES && e.faces.length > 1);
    await assert.rejects(
      gateway.enroll({ modality: Modality.FACE, id, image: group.bytes, faceBox: { xPx: 1, yPx: 1, widthPx: 3, heightPx: 3 } }),
      isCode(ErrorCode.BOX_MATCHES_NO_FACE),
    );
    // One face, shrunk until its eyes are about 15 px apart (faces are ~2.5 inter-ocular distances wide).
    const b = face().box;
    const side = Math.round(Math.max(b.widthPx, b.heightPx) * 1.6);
    const region = { left: Math.max(0, Math.round(b.xPx - side * 0.2)), top: Math.max(0, Math.round(b.yPx - side * 0.2)), width: side, height: side };
    const tiny = await sharp(face().bytes).rotate().extract(region).resize({ width: Math.round((side * 38) / b.widthPx) }).png().toBuffer();
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image: tiny }), isCode(ErrorCode.FACE_TOO_SMALL));
    await assert.rejects(gateway.get({ modality: Modality.FACE, id }), isCode(ErrorCode.NOT_FOUND));
  });

  test("search parameters out of range", async () => {
    const image = face().bytes;
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image, similarityThreshold: 1.5 }), isCode(ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image, maxCandidates: 0 }), isCode(ErrorCode.INVALID_ARGUMENT));
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image, maxCandidates: 100_000 }), isCode(ErrorCode.INVALID_ARGUMENT));
  });

  test("an expired deadline is honoured", async () => {
    await assert.rejects(gateway.search({ caseRef: "IT-CASE-1", modality: Modality.FACE, image: face().bytes }, { timeoutMs: 1 }), isCode(ErrorCode.DEADLINE_EXCEEDED));
  });
});

/** A valid PNG header that declares 30000 x 30000 pixels: a decompression bomb's calling card. */
async function pngBomb(): Promise<Buffer> {
  const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#000" } }).png().toBuffer();
  const bomb = Buffer.from(small);
  bomb.writeUInt32BE(30_000, 16);
  bomb.writeUInt32BE(30_000, 20);
  // Fix the IHDR CRC so only the size is unusual.
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
  return bomb;
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

async function extractTemplate(
  extractor: ServiceClient<typeof ExtractorService.method>,
  image: Buffer,
  centre: { x: number; y: number },
): Promise<Float32Array> {
  try {
    return wireTemplate(await extractor.extract({ modality: Modality.FACE, image }));
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== ErrorCode.MULTIPLE_FACES) throw err;
    const { nearestBox } = await import("@taj/samples");
    return wireTemplate(await extractor.extract({ modality: Modality.FACE, image, faceBox: nearestBox(err.faces, centre) }));
  }
}

/** Retries until `done` holds: replicas apply the log within moments, not instantly. */
async function eventually<T>(fn: () => Promise<T>, done: (value: T) => boolean, attempts = 50): Promise<T> {
  let value = await fn();
  for (let i = 1; i < attempts && !done(value); i++) {
    await new Promise((r) => setTimeout(r, 100));
    value = await fn();
  }
  return value;
}
