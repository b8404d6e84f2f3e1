// "Deletion means deletion" end to end, on a real two-site local cluster: after a purge, no byte
// of the template is left in any file under the cluster dir (the NATS stores of a, b and the
// witness, every shard's data dir at both sites, etcd, the logs), and the id is gone from both
// sites' answers. The delays waited are the documented ones (docs/data-protection.md), the
// shards' made short through config (PURGE_SNAPSHOT_DELAY_MS).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type JetStreamManager, type NatsConnection } from "nats";
import { ErrorCode, MatchingService, Modality, type Box } from "@taj/proto";
import {
  AppError, TEMPLATE_STREAM, createClient, decodeTemplateEvent, enrolledTemplate, partitionOf, templateSubject, type ServiceClient,
} from "@taj/common";
import { findTemplateOnDisk, startLocalCluster, templateEncodings, type DiskHit, type LocalCluster, type TemplateEncoding, withCallMetadata } from "@taj/devcluster";
import { loadSamplePhotos } from "@taj/samples";

const PARTITIONS = 4;
const PURGE_SNAPSHOT_DELAY_MS = 1_000;
/** What the shards' side may take beyond the delay: applying the delete, writing the snapshot. */
const SHARD_MARGIN_MS = 10_000;
/** Opt-in: wait for nats-server's own compaction timer (up to 3 min) instead of driving it by size. */
const WAIT_RAFT_TIMER = process.env.PURGE_TEST_RAFT_TIMER === "1";

const clusterDir = mkdtempSync(join(tmpdir(), "taj-purge-"));
let cluster: LocalCluster;
let gateways: Record<string, ServiceClient<typeof MatchingService.method>>;
let nc: NatsConnection;
let jsm: JetStreamManager;
/** Faces of the sample photos (image + box), each enrolled at most once, so no other id shares its template. */
const faces: Face[] = [];
let nextFace = 0;

interface Face {
  bytes: Buffer;
  box: Box;
}
/** Every template purged by the tests: the last test looks for all of them everywhere. */
const purged: Array<{ label: string; encodings: TemplateEncoding[] }> = [];

before(async () => {
  cluster = await startLocalCluster({
    dir: clusterDir,
    basePort: 22600,
    shardsPerSite: 1,
    partitionCount: PARTITIONS,
    extractors: 1,
    logLevel: "warn",
    // The periodic snapshot stays at its default (60 s), so what replaces a snapshot here is the purge's.
    shardEnv: { PURGE_SNAPSHOT_DELAY_MS: String(PURGE_SNAPSHOT_DELAY_MS) },
  });
  // One caller with the roles this test uses (Stats is admin's); the role table has its own tests.
  const caller = await cluster.issuer.metadata({ sub: "purge-test", roles: ["search", "enroll", "admin"] });
  gateways = Object.fromEntries(Object.entries(cluster.addresses.gateways).map(
    ([site, addr]) => [site, withCallMetadata(createClient(MatchingService, addr, cluster.credentials("bearer")), caller)],
  ));
  nc = await connect(cluster.natsOptions());
  jsm = await nc.jetstreamManager();
  // A photo with several faces is refused with the list of their boxes, and nothing is enrolled.
  for (const photo of await loadSamplePhotos()) {
    try {
      await gateways.a!.enroll({ modality: Modality.FACE, id: "PURGE-BOXES", image: photo.bytes });
      await gateways.a!.delete({ modality: Modality.FACE, id: "PURGE-BOXES" }); // a one-face photo: not used
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== ErrorCode.MULTIPLE_FACES) throw err;
      faces.push(...err.faces.map((box) => ({ bytes: photo.bytes, box })));
    }
  }
  assert.ok(faces.length >= 3, `only ${faces.length} sample faces`);
});

after(async () => {
  for (const g of Object.values(gateways ?? {})) g.close();
  await nc?.close();
  await cluster?.stop();
  if (process.env.PURGE_TEST_KEEP !== "1") rmSync(clusterDir, { recursive: true, force: true });
});

const subjectOf = (id: string) => templateSubject(Modality.FACE, partitionOf(id, PARTITIONS), id);

/** Enrols the next sample face that the extractor accepts (some are rightly refused as too small). */
async function enroll(id: string): Promise<{ face: Face; encodings: TemplateEncoding[] }> {
  let face: Face | undefined;
  while (!face) {
    const candidate = faces[nextFace++];
    assert.ok(candidate, "out of sample faces");
    try {
      await gateways.a!.enroll({ modality: Modality.FACE, id, image: candidate.bytes, faceBox: candidate.box });
      face = candidate;
    } catch (err) {
      if (!(err instanceof AppError) || err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.INTERNAL) throw err;
    }
  }
  const stored = decodeTemplateEvent((await jsm.streams.getMessage(TEMPLATE_STREAM, { last_by_subj: subjectOf(id) })).data);
  assert.equal(stored.event.case, "enrolled");
  // As the shards see it (half precision from the log): the int8 forms on their disks derive from these values.
  return { face, encodings: templateEncodings(enrolledTemplate(stored.event.value)) };
}

/**
 * Files holding any form of the template, by kind of store; `_js_` is the raft log of JetStream's
 * groups. `everything` scans the whole cluster dir (etcd's preallocated WALs and the logs
 * included: ~1 s); otherwise only the stores the template goes to, NATS's and the shards' (ms),
 * so the delays are measured to a fine resolution.
 */
function scan(encodings: TemplateEncoding[], everything = false): { raft: DiskHit[]; other: DiskHit[] } {
  const stores = everything ? [""] : readdirSync(clusterDir).filter((e) => /^(nats-[abw]|shard-.*-data)$/.test(e));
  const hits = stores.flatMap((dir) => findTemplateOnDisk(join(clusterDir, dir), encodings).map((h) => ({ ...h, file: join(dir, h.file) })));
  const raft = hits.filter((h) => h.file.split("/").includes("_js_"));
  return { raft, other: hits.filter((h) => !raft.includes(h)) };
}

const show = (hits: DiskHit[]) => hits.map((h) => `${h.file} (${h.encoding})`).join(", ");

/**
 * Polls until `done` holds, for at most `ms` after `since`; returns when the first check that
 * held began, after `since` (the resolution is one scan of the stores plus 50 ms).
 */
async function within(ms: number, what: string, done: () => boolean | Promise<boolean>, since = Date.now()): Promise<number> {
  for (;;) {
    const checkedAt = Date.now();
    if (await done()) return checkedAt - since;
    if (Date.now() - since > ms) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until every shard replica has applied the whole log (so the delete reached both sites). */
async function appliedEverywhere(): Promise<void> {
  await within(30_000, "every shard replica applied the log", async () => {
    const s = await gateways.a!.stats({});
    return s.shards.length >= 2 && s.shards.every((sh) => sh.alive && sh.appliedSequence >= s.logLastSequence);
  });
}

async function foundAt(site: string, id: string, face: Face): Promise<boolean> {
  const answer = await gateways[site]!.search({ modality: Modality.FACE, image: face.bytes, faceBox: face.box, caseRef: "PURGE-TEST", similarityThreshold: 0, maxCandidates: 50 });
  assert.equal(answer.complete, true, `search at site ${site} complete`);
  return answer.candidates.some((c) => c.id === id);
}

async function assertGoneFromAnswers(id: string, face: Face): Promise<void> {
  for (const [site, gw] of Object.entries(gateways)) {
    await assert.rejects(gw.get({ modality: Modality.FACE, id }), (e: unknown) => e instanceof AppError && e.code === ErrorCode.NOT_FOUND, `get at site ${site}`);
    assert.equal(await foundAt(site, id, face), false, `${id} still found at site ${site}`);
  }
}

const STREAM_STORE = /^nats-[abw]\/jetstream\/\$G\/streams\/TAJ_TEMPLATES\//;

describe("a purge leaves no byte of the template on any disk", () => {
  test("enrol then delete: the template leaves every message block at once, and both sites' answers", async () => {
    const id = "PURGE-ONE";
    const { face, encodings } = await enroll(id);
    purged.push({ label: id, encodings });
    const before = scan(encodings).other.filter((h) => STREAM_STORE.test(h.file)).map((h) => h.file.slice(0, 6));
    assert.deepEqual([...new Set(before)].sort(), ["nats-a", "nats-b", "nats-w"], "stored at the three locations first");
    await appliedEverywhere();
    for (const site of Object.keys(gateways)) assert.equal(await foundAt(site, id, face), true, `found at site ${site} before the delete`);

    await gateways.b!.delete({ modality: Modality.FACE, id });
    const deletedAt = Date.now();
    const tookMs = await within(PURGE_SNAPSHOT_DELAY_MS + SHARD_MARGIN_MS, "the template gone from every store but the raft log", () => scan(encodings).other.length === 0, deletedAt);
    console.log(`# purge: enrol+delete: gone from every store outside the raft log ${tookMs} ms after the delete's answer`);
    await appliedEverywhere();
    assert.equal(show(scan(encodings, true).other), "", "nowhere else under the cluster dir either (etcd, logs)");
    await assertGoneFromAnswers(id, face);
  });

  test("enrol, re-enrol, delete: no generation is left behind, in the log nor in a shard snapshot", async () => {
    const id = "PURGE-TWO";
    const { encodings: first } = await enroll(id);
    const { face, encodings: second } = await enroll(id);
    purged.push({ label: `${id} generation 1`, encodings: first }, { label: `${id} generation 2`, encodings: second });
    await appliedEverywhere();
    // The re-enrolment replaced a template: each site's shard snapshots within the purge delay.
    await within(PURGE_SNAPSHOT_DELAY_MS + SHARD_MARGIN_MS, "the new generation in a snapshot at both sites", () => {
      const forms = new Set(scan(second).other.filter((h) => h.file.startsWith("shard-")).map((h) => `${h.file.split("/")[0]}:${h.encoding}`));
      return ["shard-a1-data", "shard-b1-data"].every((d) => forms.has(`${d}:shard-int8`));
    });
    assert.deepEqual(show(scan(first).other), "", "the replaced generation is already gone outside the raft log");

    await gateways.a!.delete({ modality: Modality.FACE, id });
    const deletedAt = Date.now();
    const tookMs = await within(PURGE_SNAPSHOT_DELAY_MS + SHARD_MARGIN_MS, "both generations gone from every store but the raft log", () =>
      scan(first).other.length === 0 && scan(second).other.length === 0, deletedAt);
    console.log(`# purge: re-enrolled id: both generations gone outside the raft log ${tookMs} ms after the delete's answer (snapshot delay ${PURGE_SNAPSHOT_DELAY_MS} ms)`);
    await appliedEverywhere();
    assert.equal(show([...scan(first, true).other, ...scan(second, true).other]), "", "nowhere else under the cluster dir either");
    await assertGoneFromAnswers(id, face);
  });

  test("once the template log's raft groups compact, no byte of any purged template is left anywhere", async () => {
    const raftHits = purged.flatMap((p) => scan(p.encodings).raft);
    const compactionsAt = Date.now();
    console.log(`# purge: before the raft compaction, ${raftHits.length} raft-log files still hold a purged template: ${show(raftHits)}`);
    if (!WAIT_RAFT_TIMER) await crossRaftCompactionSize();
    const tookMs = await within(WAIT_RAFT_TIMER ? 200_000 : 20_000, "every purged template gone from the raft logs", () =>
      purged.every((p) => scan(p.encodings).raft.length === 0), WAIT_RAFT_TIMER ? compactionsAt : Date.now());
    console.log(`# purge: raft logs clean ${tookMs} ms after ${WAIT_RAFT_TIMER ? "the test started waiting (compaction timer)" : "writing past the compaction size"}`);
    for (const p of purged) assert.equal(show(findTemplateOnDisk(clusterDir, p.encodings)), "", `${p.label}, anywhere under the cluster dir`);
  });
});

/**
 * nats-server 2.10 compacts a stream's raft log on a timer (every 2 min plus up to 1 min of
 * per-server jitter: docs/data-protection.md) or as soon as the applied part of the log passes
 * 8 MiB. A test cannot wait 3 minutes, so it writes 9 MB of incompressible filler (the raft log
 * compresses big entries) to the stream: the same compaction, reached by size. The filler is a
 * valid TemplateEvent holding only an unknown field, which the shards skip as "no event".
 */
async function crossRaftCompactionSize(): Promise<void> {
  const size = 900_000;
  const header = Buffer.from([0x7a, (size & 0x7f) | 0x80, ((size >>> 7) & 0x7f) | 0x80, size >>> 14]); // field 15, bytes, varint length
  const js = nc.jetstream();
  for (let i = 0; i < 10; i++) {
    const data = Buffer.concat([header, randomBytes(size)]);
    // Retried under the same msgID (stored once): a connection's first request through the
    // cluster was seen timing out here while its reply interest reached the other servers.
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(`taj.tpl.face.0.zz-raft-filler-${i}`, data, { msgID: `raft-filler-${i}`, timeout: 5_000 });
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
  }
}
