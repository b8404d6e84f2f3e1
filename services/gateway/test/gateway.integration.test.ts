import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppError, PARTITION_COUNT_KEY, TEMPLATE_STREAM, createClient, createLogger, decodeTemplateEvent, enrolledTemplate, partitionOf, templateSubject, tokenCallerCredentials,
  wireTemplate,
} from "@taj/common";
import { ErrorCode, MatchingService, Modality, RecordFormat, SearchMode } from "@taj/proto";
import type { Metadata } from "@grpc/grpc-js";
import { startNats, type NatsFixture } from "./fixtures/nats.ts";
import { LocalIssuer, sharedTestPki, startTestEtcd, tlsEnvOf, type TestEtcd } from "@taj/devcluster";
import { startTestCoordinator, startTestExtractor, templateOf } from "./fixtures/upstream-doubles.ts";
import { GatewayConfig } from "../src/config.ts";
import { startGateway, type Gateway } from "../src/app.ts";

// Ports of this package's tests: 17320-17339. 17329 is left free on purpose: an unreachable peer.
const DEAD = "127.0.0.1:17329";
const PARTITIONS = 8;

let nats: NatsFixture;
let etcd: TestEtcd;
let extractor: Awaited<ReturnType<typeof startTestExtractor>>;
let coordinator: Awaited<ReturnType<typeof startTestCoordinator>>;
/** Listed after `coordinator`: it must only be asked when the ones before it are unreachable. */
let spareCoordinator: Awaited<ReturnType<typeof startTestCoordinator>>;
let gateway: Gateway;
let client: ReturnType<typeof createClient<typeof MatchingService.method>>;
let dir: string;

const image = (label: string) => new Uint8Array(Buffer.from(`image:${label}`));
/** Every call as a principal holding every role (the role table has its own test: auth.integration). */
const opts: { timeoutMs: number; metadata?: Metadata } = { timeoutMs: 5_000 };

/** The audit event of a call, read back through QueryAudit. */
async function auditEventOf(searchId: string) {
  const res = await client.queryAudit({ rpc: "Search", pageSize: 1000 }, opts);
  return res.entries.map((e) => e.event!).find((e) => e.eventId === searchId);
}

async function lastOnSubject(subject: string) {
  const jsm = await nats.nc.jetstreamManager();
  const msg = await jsm.streams.getMessage(TEMPLATE_STREAM, { last_by_subj: subject });
  return { seq: msg.seq, event: decodeTemplateEvent(msg.data) };
}

function rejectsWith(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(ErrorCode[err.code], ErrorCode[code]);
    return true;
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taj-gateway-test-"));
  const issuer = await LocalIssuer.open(dir);
  opts.metadata = await issuer.metadata({ sub: "inspector-7", roles: ["search", "enroll", "admin", "audit"] });
  nats = await startNats(17320);
  etcd = await startTestEtcd(17321, 17322);
  await etcd.client.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  extractor = await startTestExtractor();
  coordinator = await startTestCoordinator();
  spareCoordinator = await startTestCoordinator();
  const config = GatewayConfig.parse({
    ...tlsEnvOf(sharedTestPki().issue("gateway", "gateway-under-test")),
    SITE: "a",
    GRPC_PORT: "0",
    // The dead extractor takes every other call: each must still succeed on the live one.
    EXTRACTOR_ADDRESSES: `${DEAD},127.0.0.1:${extractor.server.port}`,
    COORDINATOR_ADDRESSES: `${DEAD},127.0.0.1:${coordinator.server.port},127.0.0.1:${spareCoordinator.server.port}`,
    NATS_URLS: nats.url,
    ETCD_ENDPOINTS: etcd.endpoint,
    MAX_IMAGE_BYTES: "1000",
    // Not the shipped default (exhaustive): the search test shows the gateway resolves the configured one.
    DEFAULT_SEARCH_MODE_FACE: "approximate",
    ...issuer.gatewayEnv(),
  });
  gateway = await startGateway(config, createLogger("gateway", "silent"));
  // A person's client: TLS without a client certificate, the bearer token in `opts`.
  client = createClient(MatchingService, `127.0.0.1:${gateway.port}`, tokenCallerCredentials(sharedTestPki().client.caFile));
});

after(async () => {
  client?.close();
  await gateway?.close();
  await extractor?.server.shutdown(100);
  await coordinator?.server.shutdown(100);
  await spareCoordinator?.server.shutdown(100);
  await nats?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("enroll stores the template in the log before answering, on the id's partition subject", async () => {
  const res = await client.enroll({ modality: Modality.FACE, id: "rec-1", image: image("one") }, opts);
  assert.equal(res.id, "rec-1");
  assert.ok(res.logSequence > 0n);
  assert.equal(res.quality?.interOcularPx, 60);
  const stored = await lastOnSubject(templateSubject(Modality.FACE, partitionOf("rec-1", PARTITIONS), "rec-1"));
  assert.equal(BigInt(stored.seq), res.logSequence);
  assert.equal(stored.event.event.case, "enrolled");
  if (stored.event.event.case !== "enrolled") return;
  assert.equal(stored.event.event.value.modelId, "test-model-1");
  assertHalfOf(stored.event.event.value, templateOf(image("one")));
});

/** The record holds `expected` in half precision only: 2 bytes a value, each within half an ulp (2^-11 relative). */
function assertHalfOf(enrolled: Parameters<typeof enrolledTemplate>[0], expected: number[]): void {
  assert.equal(enrolled.template.length, 0, "the float32 field is no longer written");
  assert.equal(enrolled.templateF16.length, 2 * expected.length);
  const read = enrolledTemplate(enrolled);
  assert.equal(read.length, expected.length);
  read.forEach((x, i) => assert.ok(Math.abs(x - expected[i]!) <= Math.abs(expected[i]!) * 2 ** -11, `value ${i}: ${x} vs ${expected[i]}`));
}

test("an extractor of the previous release (template as repeated float) still enrolls and searches", async () => {
  const legacy = (label: string) => new Uint8Array(Buffer.from(`legacy:${label}`));
  await client.enroll({ modality: Modality.FACE, id: "rec-legacy", image: legacy("1") }, opts);
  const stored = await lastOnSubject(templateSubject(Modality.FACE, partitionOf("rec-legacy", PARTITIONS), "rec-legacy"));
  assert.equal(stored.event.event.case, "enrolled");
  if (stored.event.event.case !== "enrolled") return;
  assertHalfOf(stored.event.event.value, templateOf(legacy("1")));
  coordinator.state.answer = { candidates: [], partitionCount: PARTITIONS };
  await client.search({ modality: Modality.FACE, image: legacy("2"), caseRef: "CASE-1" }, opts);
  const asked = coordinator.state.requests.at(-1)!;
  assert.equal(asked.template.length, 0);
  assert.deepEqual([...wireTemplate(asked)], [...Float32Array.from(templateOf(legacy("2")))]);
});

test("get describes an enrolled id without its template; re-enroll replaces it", async () => {
  const first = await client.get({ modality: Modality.FACE, id: "rec-1" }, opts);
  assert.equal(first.templateDimensions, 8);
  assert.equal(first.modelId, "test-model-1");
  assert.ok(first.enrolledAt);
  const again = await client.enroll({ modality: Modality.FACE, id: "rec-1", image: image("one-bis") }, opts);
  const second = await client.get({ modality: Modality.FACE, id: "rec-1" }, opts);
  assert.equal(second.logSequence, again.logSequence);
  assert.ok(second.logSequence > first.logSequence);
  const jsm = await nats.nc.jetstreamManager();
  const subject = templateSubject(Modality.FACE, partitionOf("rec-1", PARTITIONS), "rec-1");
  const info = await jsm.streams.info(TEMPLATE_STREAM, { subjects_filter: subject });
  assert.equal(info.state.subjects?.[subject], 1, "the log keeps one message per id");
  await assert.rejects(client.get({ modality: Modality.TATTOO, id: "rec-1" }, opts), rejectsWith(ErrorCode.NOT_FOUND));
});

test("delete writes a tombstone, after which the id is not found; deleting again says it did not exist", async () => {
  await client.enroll({ modality: Modality.TATTOO, id: "rec-2", image: image("tattoo") }, opts);
  await client.enroll({ modality: Modality.FACE, id: "rec-2", image: image("face2") }, opts);
  const deleted = await client.delete({ modality: Modality.UNSPECIFIED, id: "rec-2" }, opts);
  assert.equal(deleted.existed, true);
  for (const modality of [Modality.FACE, Modality.TATTOO]) {
    const last = await lastOnSubject(templateSubject(modality, partitionOf("rec-2", PARTITIONS), "rec-2"));
    assert.equal(last.event.event.case, "deleted");
    await assert.rejects(client.get({ modality, id: "rec-2" }, opts), rejectsWith(ErrorCode.NOT_FOUND));
  }
  // Absent ids still get a tombstone: the write, not the read, is what the quorum confirms.
  const again = await client.delete({ modality: Modality.FACE, id: "rec-2" }, opts);
  assert.equal(again.existed, false);
  assert.ok(again.logSequence > deleted.logSequence);
  const never = await client.delete({ modality: Modality.MARK, id: "never-enrolled" }, opts);
  assert.equal(never.existed, false);
  const neverLast = await lastOnSubject(templateSubject(Modality.MARK, partitionOf("never-enrolled", PARTITIONS), "never-enrolled"));
  assert.deepEqual([neverLast.event.event.case, BigInt(neverLast.seq)], ["deleted", never.logSequence]);
});

test("extractor errors reach the caller with their code and faces; bad input never reaches the extractor", async () => {
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "x", image: new Uint8Array() }, opts), rejectsWith(ErrorCode.IMAGE_EMPTY));
  const before = extractor.state.calls;
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "x", image: new Uint8Array(1001) }, opts), rejectsWith(ErrorCode.IMAGE_TOO_LARGE));
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "x y", image: image("a") }, opts), rejectsWith(ErrorCode.INVALID_ID));
  await assert.rejects(client.enroll({ modality: Modality.UNSPECIFIED, id: "x", image: image("a") }, opts), rejectsWith(ErrorCode.UNSUPPORTED_MODALITY));
  assert.equal(extractor.state.calls, before);
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "x", image: new Uint8Array(Buffer.from("noface")) }, opts), rejectsWith(ErrorCode.NO_FACE));
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "x", image: new Uint8Array(Buffer.from("multi")) }, opts), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, ErrorCode.MULTIPLE_FACES);
    assert.equal(err.faces.length, 2);
    assert.equal(err.faces[1]?.xPx, 100);
    return true;
  });
  await assert.rejects(client.get({ modality: Modality.FACE, id: "x" }, opts), rejectsWith(ErrorCode.NOT_FOUND));
});

test("a tattoo's body location goes into the log event and comes back on get; a bad one never reaches the extractor", async () => {
  const res = await client.enroll({ modality: Modality.TATTOO, id: "tat-loc", image: image("tattoo-loc"), bodyLocation: "l arm" }, opts);
  const stored = await lastOnSubject(templateSubject(Modality.TATTOO, partitionOf("tat-loc", PARTITIONS), "tat-loc"));
  assert.equal(BigInt(stored.seq), res.logSequence);
  assert.ok(stored.event.event.case === "enrolled");
  assert.equal(stored.event.event.value.bodyLocation, "L ARM", "stored in its canonical spelling");
  assert.equal((await client.get({ modality: Modality.TATTOO, id: "tat-loc" }, opts)).bodyLocation, "L ARM");
  await client.enroll({ modality: Modality.TATTOO, id: "tat-noloc", image: image("tattoo-noloc") }, opts);
  assert.equal((await client.get({ modality: Modality.TATTOO, id: "tat-noloc" }, opts)).bodyLocation, "");
  const calls = extractor.state.calls;
  await assert.rejects(client.enroll({ modality: Modality.TATTOO, id: "tat-bad", image: image("t"), bodyLocation: "UPPER WING" }, opts),
    rejectsWith(ErrorCode.INVALID_BODY_LOCATION));
  await assert.rejects(client.enroll({ modality: Modality.FACE, id: "face-loc", image: image("f"), bodyLocation: "FACE" }, opts),
    rejectsWith(ErrorCode.INVALID_BODY_LOCATION));
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("f"), caseRef: "C-LOC", bodyLocations: ["CHEST"] }, opts),
    rejectsWith(ErrorCode.INVALID_BODY_LOCATION));
  assert.equal(extractor.state.calls, calls);
});

test("a record's body location is stored when the caller gives none, the caller's wins, and record_image_index reaches the extractor", async () => {
  const record = (location: string) => new Uint8Array(Buffer.from(`type10:${location}`));
  const res = await client.enroll({ modality: Modality.TATTOO, id: "tat-rec", image: record("L ARM"), recordImageIndex: 2 }, opts);
  assert.equal(extractor.state.lastRecordImageIndex, 2);
  assert.equal(res.bodyLocation, "L ARM");
  assert.equal(res.record?.format, RecordFormat.ANSI_NIST_TYPE_10);
  assert.equal(res.record?.imageIndex, 2);
  const stored = await lastOnSubject(templateSubject(Modality.TATTOO, partitionOf("tat-rec", PARTITIONS), "tat-rec"));
  assert.ok(stored.event.event.case === "enrolled");
  assert.equal(stored.event.event.value.bodyLocation, "L ARM");
  const own = await client.enroll({ modality: Modality.TATTOO, id: "tat-rec2", image: record("L ARM"), bodyLocation: "back" }, opts);
  assert.equal(own.bodyLocation, "BACK", "the caller's location wins over the record's");
  assert.equal(extractor.state.lastRecordImageIndex, undefined);
  const found = await client.search({ modality: Modality.TATTOO, image: record("CHEST"), caseRef: "C-REC", recordImageIndex: 1 }, opts);
  assert.equal(found.probeRecord?.format, RecordFormat.ANSI_NIST_TYPE_10);
  assert.equal(extractor.state.lastRecordImageIndex, 1);
  await assert.rejects(client.enroll({ modality: Modality.TATTOO, id: "tat-rec3", image: record(""), recordImageIndex: 5000 }, opts),
    rejectsWith(ErrorCode.INVALID_ARGUMENT));
});

test("a search's body_locations reach the coordinator checked and deduplicated, and the search runs EXHAUSTIVE", async () => {
  coordinator.state.answer = { candidates: [{ id: "tat-loc", similarity: 0.9, rank: 1 }], partitionCount: PARTITIONS };
  const res = await client.search(
    { modality: Modality.TATTOO, image: image("probe-loc"), caseRef: "C-LOC", mode: SearchMode.APPROXIMATE, bodyLocations: ["L ARM", "r arm", "L ARM"] },
    opts,
  );
  const asked = coordinator.state.requests.at(-1)!;
  assert.deepEqual(asked.bodyLocations, ["L ARM", "R ARM"]);
  assert.equal(SearchMode[asked.mode], "EXHAUSTIVE");
  assert.equal(SearchMode[res.mode], "EXHAUSTIVE", "the answer says the filtered search was exact");
});

test("search passes the resolved parameters, answers completely and is audited", async () => {
  coordinator.state.answer = { candidates: [{ id: "rec-1", similarity: 0.93, rank: 1 }], partitionCount: PARTITIONS };
  const res = await client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-1" }, opts);
  const asked = coordinator.state.requests.at(-1)!;
  assert.ok(Math.abs(asked.similarityThreshold - 0.4) < 1e-6, "FACE default threshold");
  assert.equal(asked.maxCandidates, 20);
  assert.equal(asked.allowPartial, false);
  assert.equal(SearchMode[asked.mode], "APPROXIMATE", "the gateway resolved FACE's default mode: the coordinator is never asked UNSPECIFIED");
  assert.equal(asked.template.length, 0, "the probe goes as template_f32 only");
  assert.equal(asked.templateF32.length, 4 * 8);
  assert.deepEqual([...wireTemplate(asked)], [...Float32Array.from(templateOf(image("probe")))], "float32 exactly, as extracted");
  assert.deepEqual(res.candidates.map((c) => [c.id, c.rank]), [["rec-1", 1]]);
  assert.equal(res.complete, true);
  assert.equal(res.partitionCount, PARTITIONS);
  assert.equal(res.maxCandidates, 20);
  assert.equal(SearchMode[res.mode], "APPROXIMATE", "the answer says which mode ran");
  assert.equal(res.probeQuality?.detectionScore.toFixed(2), "0.99");
  const audit = await auditEventOf(res.searchId);
  assert.ok(audit, "the search has an audit event");
  assert.equal(audit.principal?.id, "oidc:inspector-7", "the authenticated principal, never a header");
  assert.equal(audit.caseRef, "CASE-1");
  assert.equal(audit.modality, Modality.FACE);
  assert.equal(audit.outcome, "OK");
  assert.equal(audit.search?.complete, true);
  assert.equal(SearchMode[audit.search?.mode ?? SearchMode.UNSPECIFIED], "APPROXIMATE", "and so does the audit event");
  assert.deepEqual(audit.search?.candidates.map((c) => c.id), ["rec-1"]);
});

test("every_face: each face answered on its own with its box, a refused face with its error, one audit event; refused with a box or for tattoos", async () => {
  coordinator.state.answer = { candidates: [{ id: "rec-f1", similarity: 0.91, rank: 1 }], partitionCount: PARTITIONS };
  const before = coordinator.state.requests.length;
  const res = await client.search({ modality: Modality.FACE, image: new Uint8Array(Buffer.from("multi-still")), caseRef: "CASE-CCTV", everyFace: true }, opts);
  assert.equal(coordinator.state.requests.length - before, 1, "one coordinated search per usable face");
  assert.equal(res.facesFound, 2);
  assert.deepEqual(res.faces.map((f) => f.quality?.box?.xPx), [1, 100]);
  assert.deepEqual(res.faces[0]!.candidates.map((c) => c.id), ["rec-f1"]);
  assert.equal(res.faces[0]!.error, undefined);
  assert.equal(res.faces[1]!.error?.code, ErrorCode.FACE_TOO_SMALL);
  assert.equal(res.faces[1]!.candidates.length, 0);
  assert.equal(res.candidates.length, 0, "the answer is per face");
  assert.equal(res.complete, true);
  const audit = await auditEventOf(res.searchId);
  assert.equal(audit?.caseRef, "CASE-CCTV");
  assert.deepEqual(audit?.search?.faces.map((f) => [f.box?.xPx, f.candidates.map((c) => c.id), ErrorCode[f.errorCode]]), [[1, ["rec-f1"], "UNSPECIFIED"], [100, [], "FACE_TOO_SMALL"]]);
  // The auditor finds the search by a candidate of one of its faces.
  const found = await client.queryAudit({ recordId: "rec-f1", caseRef: "CASE-CCTV", pageSize: 10 }, opts);
  assert.ok(found.entries.some((e) => e.event?.search?.faces.length === 2));
  // An extractor of the previous release ignores every_face and answers one template: refused, never taken for a one-face still.
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("old-extractor"), caseRef: "C", everyFace: true }, opts), (err: unknown) => AppError.from(err).code === ErrorCode.UNAVAILABLE);
  for (const wrong of [
    { modality: Modality.TATTOO, image: image("multi-t"), caseRef: "C", everyFace: true },
    { modality: Modality.FACE, image: image("multi-b"), caseRef: "C", everyFace: true, faceBox: { xPx: 1, yPx: 2, widthPx: 30, heightPx: 40 } },
  ]) {
    await assert.rejects(client.search(wrong, opts), (err: unknown) => AppError.from(err).code === ErrorCode.INVALID_ARGUMENT);
  }
});

test("a partial search says so; a refused one is audited with its code and not retried on another coordinator", async () => {
  coordinator.state.answer = { candidates: [], unsearchedPartitions: [3, 5], partitionCount: PARTITIONS };
  const partial = await client.search(
    { modality: Modality.FACE, image: image("p2"), similarityThreshold: 0.1, maxCandidates: 3, mode: SearchMode.EXHAUSTIVE, allowPartial: true, caseRef: "C2" },
    opts,
  );
  assert.equal(partial.complete, false);
  assert.deepEqual(partial.unsearchedPartitions, [3, 5]);
  assert.equal(partial.mode, SearchMode.EXHAUSTIVE);
  assert.equal((await auditEventOf(partial.searchId))?.search?.complete, false);

  coordinator.state.answer = new AppError(ErrorCode.UNAVAILABLE, "partitions 3,5 could not be searched");
  const asked = coordinator.state.requests.length;
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("p3"), caseRef: "C3" }, opts), rejectsWith(ErrorCode.UNAVAILABLE));
  assert.equal(coordinator.state.requests.length, asked + 1);
  assert.equal(spareCoordinator.state.requests.length, 0, "an answered UNAVAILABLE is not an unreachable coordinator");
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("p4"), maxCandidates: 201, caseRef: "C4" }, opts), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  const searches = (await client.queryAudit({ rpc: "Search", pageSize: 1000 }, opts)).entries.map((e) => e.event!);
  // The refused one keeps its case_ref: the audit takes it from the request, before validation.
  assert.deepEqual(searches.slice(-2).map((e) => [e.caseRef, e.outcome]), [["C3", "UNAVAILABLE"], ["C4", "INVALID_ARGUMENT"]]);
});

test("stats sums the shards' counts per modality and gives the log's last sequence", async () => {
  const stats = await client.stats({}, opts);
  assert.equal(stats.partitionCount, 8);
  const a = stats.shards.find((s) => s.site === "a")!;
  assert.deepEqual(a.counts.map((c) => [c.modality, c.templates]), [[Modality.FACE, 7n], [Modality.TATTOO, 1n]]);
  assert.equal(a.appliedSequence, 9n);
  assert.equal(stats.shards.find((s) => s.site === "b")?.alive, false);
  assert.deepEqual(stats.uncovered.map((u) => [u.site, u.partitions.length]), [["a", 0], ["b", 8]]);
  const jsm = await nats.nc.jetstreamManager();
  assert.equal(stats.logLastSequence, BigInt((await jsm.streams.info(TEMPLATE_STREAM)).state.last_seq));
  assert.ok(stats.logLastSequence >= 5n);
});
