// A face model upgrade end to end on a real two-site cluster (docs/model-upgrade.md): the
// extractors serve the old and the new model; the administrator enrols with both while TAJ
// re-sends photos, searches the old model until the new one covers the collection, switches, and
// drops the old model's templates. Real nats-server, etcd, extractor models and shards.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, MatchingService, Modality, SearchMode, type ModalitySettings, type StatsResponse } from "@taj/proto";
import { AppError, createClient, type ServiceClient } from "@taj/common";
import { startLocalCluster, withCallMetadata, type LocalCluster } from "@taj/devcluster";
import { loadModalities } from "@taj/extractor";
import { enrollAllFaces, loadSamplePhotos, type EnrolledFace } from "@taj/samples";

type Client = ServiceClient<typeof MatchingService.method>;
const dir = mkdtempSync(join(tmpdir(), "taj-model-upgrade-"));
let cluster: LocalCluster;
let siteA: Client;
let siteB: Client;
const faces: EnrolledFace[] = [];
const builtIn = loadModalities(undefined);
const OLD = builtIn.face!.modelId;
// The same networks aligned on three points instead of five: another model's templates.
const NEW = "faceplugin-fr-feature-512/align3-upgrade-test";

before(async () => {
  const face = builtIn.face!;
  const config = join(dir, "modalities.json");
  writeFileSync(config, JSON.stringify({ ...builtIn, moreModels: { face: [{ ...face, modelId: NEW, alignment: { ...face.alignment, method: "three-point-affine" } }] } }));
  cluster = await startLocalCluster({
    dir: join(dir, "cluster"), basePort: 29600, shardsPerSite: 1, partitionCount: 8, extractors: 1, logLevel: "warn",
    serviceEnv: { extractor: { MODALITIES_CONFIG: config } },
  });
  const caller = await cluster.issuer.metadata({ sub: "upgrade-admin", roles: ["search", "enroll", "admin", "audit"] });
  const client = (site: string) => withCallMetadata(createClient(MatchingService, cluster.addresses.gateways[site]!, cluster.credentials("bearer")), caller);
  siteA = client("a");
  siteB = client("b");
  let serial = 0;
  for (const photo of (await loadSamplePhotos()).slice(0, 4)) {
    faces.push(...(await enrollAllFaces(siteA, photo, () => `MU${String(++serial).padStart(4, "0")}`)).enrolled);
  }
  assert.ok(faces.length >= 8, `${faces.length} faces enrolled`);
});

after(async () => {
  siteA?.close();
  siteB?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, limitMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    assert.ok(Date.now() - started < limitMs, `${what} within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Face templates per model at site b, once every replica applied the whole log. */
async function countsAtB(): Promise<Map<string, bigint>> {
  const stats = await eventually(() => siteB.stats({}), (s: StatsResponse) => s.shards.every((sh) => sh.alive && sh.appliedSequence >= s.logLastSequence), "replicas caught up");
  const counts = new Map<string, bigint>();
  for (const shard of stats.shards.filter((s) => s.site === "b")) {
    for (const c of shard.counts) if (c.modality === Modality.FACE) counts.set(c.modelId, (counts.get(c.modelId) ?? 0n) + c.templates);
  }
  return counts;
}

async function setFace(client: Client, patch: Partial<Pick<ModalitySettings, "searchModelId" | "enrolModelIds">>, reason: string): Promise<void> {
  const current = (await client.getSettings({})).settings.find((v) => v.settings?.modality === Modality.FACE)!;
  const updated = await client.updateSettings({ settings: { ...current.settings!, ...patch }, expectedRevision: current.revision, reason });
  // Both sites' gateways follow within seconds.
  await eventually(() => siteB.getSettings({}), (r) => r.settings.some((v) => v.revision === updated.version!.revision && v.settings?.modality === Modality.FACE), "site b applies it", 5_000);
}

const resend = (face: EnrolledFace) => siteA.enroll({ modality: Modality.FACE, id: face.id, image: face.bytes, faceBox: face.box });
const searchAt = async (client: Client, face: EnrolledFace) =>
  (await client.search({ modality: Modality.FACE, image: face.bytes, faceBox: face.box, caseRef: "UPGRADE-1", mode: SearchMode.EXHAUSTIVE, maxCandidates: 50 })).candidates.map((c) => c.id);

test("old model, both models while photos are re-sent, the switch, then the old model's drop", async () => {
  const half = faces.slice(0, Math.floor(faces.length / 2));
  const rest = faces.slice(half.length);
  assert.deepEqual([...(await countsAtB())], [[OLD, BigInt(faces.length)]], "one model at first");

  // 1. Enrol with both models; search still the old one. TAJ re-sends half the photos.
  await setFace(siteA, { searchModelId: OLD, enrolModelIds: [OLD, NEW] }, "UPG-1 enrol both");
  for (const face of half) await resend(face);
  assert.deepEqual(Object.fromEntries(await countsAtB()), { [OLD]: BigInt(faces.length), [NEW]: BigInt(half.length) }, "the new model covers the re-sent half");
  const both = await siteA.get({ modality: Modality.FACE, id: half[0]!.id });
  assert.deepEqual([both.modelId, both.otherModelIds], [OLD, [NEW]]);
  for (const face of [half[0]!, rest[0]!]) assert.equal((await searchAt(siteB, face))[0], face.id, "the old model still finds everyone");
  await assert.rejects(siteA.dropModelTemplates({ modality: Modality.FACE, modelId: OLD, reason: "too early" }), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT);

  // 2. Switch: search and enrol the new model only. What was not re-sent is not compared with new probes.
  await setFace(siteA, { searchModelId: NEW, enrolModelIds: [NEW] }, "UPG-2 switch");
  assert.equal((await searchAt(siteB, half[1]!))[0], half[1]!.id, "a re-sent face, found by the new model");
  assert.ok(!(await searchAt(siteB, rest[0]!)).includes(rest[0]!.id), "an old-model-only record is never compared with a new-model probe");

  // 3. TAJ re-sends the rest (new model only): they leave the old model's index.
  for (const face of rest) await resend(face);
  assert.deepEqual(Object.fromEntries(await countsAtB()), { [OLD]: BigInt(half.length), [NEW]: BigInt(faces.length) });
  assert.equal((await searchAt(siteB, rest[0]!))[0], rest[0]!.id);

  // 4. Drop the old model's templates from the log, batch after batch (as `tajctl models drop`).
  let from = 1n;
  let rewritten = 0;
  for (let calls = 0; ; calls++) {
    assert.ok(calls < 50, "the drop ends");
    const res = await siteA.dropModelTemplates({ modality: Modality.FACE, modelId: OLD, fromSequence: from, maxRecords: 3, reason: "UPG-3 drop" });
    rewritten += res.rewritten;
    assert.equal(res.uncovered, 0, "every record holds the new model");
    from = res.nextSequence;
    if (res.done) break;
  }
  assert.equal(rewritten, half.length, "the records enrolled with both models, each written again");
  const counts = await countsAtB();
  assert.equal(counts.get(OLD) ?? 0n, 0n, "no old-model template left at site b");
  assert.equal(counts.get(NEW), BigInt(faces.length));
  const after = await siteA.get({ modality: Modality.FACE, id: half[0]!.id });
  assert.deepEqual([after.modelId, after.otherModelIds], [NEW, []]);
  for (const face of [half[0]!, rest[1]!]) assert.equal((await searchAt(siteA, face))[0], face.id, "still found at both sites after the drop");

  const audit = await siteA.queryAudit({ rpc: "DropModelTemplates", pageSize: 100 });
  const batches = audit.entries.map((e) => e.event!).filter((e) => e.outcome === "OK");
  assert.equal(batches.reduce((n, e) => n + (e.modelDrop?.rewritten ?? 0), 0), half.length, "every batch audited with what it rewrote");
  assert.ok(batches.every((e) => e.modelDrop?.modelId === OLD && e.modelDrop.reason === "UPG-3 drop"));
});
