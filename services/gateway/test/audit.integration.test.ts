import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  AUDIT_STREAM, AppError, PARTITION_COUNT_KEY, auditSubject, createClient, createLogger, decodeAuditEvent, decodeAuditRecord, hashEventBytes,
} from "@taj/common";
import { AuditEventSchema, AuditRecordSchema, ErrorCode, MatchingService, Modality, PrincipalKind, Verdict, type AuditEntry } from "@taj/proto";
import { LocalIssuer, startTestEtcd, type TestEtcd } from "@taj/devcluster";
import { buildProgram } from "@taj/tajctl";
import type { Metadata } from "@grpc/grpc-js";
import { startNats, type NatsFixture } from "./fixtures/nats.ts";
import { bearerCredentials, gatewayTlsEnv, tajctlTlsFlags } from "./fixtures/tls.ts";
import { startTestCoordinator, startTestExtractor } from "./fixtures/upstream-doubles.ts";
import { GatewayConfig } from "../src/config.ts";
import { startGateway, type Gateway } from "../src/app.ts";

// Ports of this package's tests: 17320-17339; this file uses 17330-17332.
const PARTITIONS = 8;
const GATEWAY_ID = "gw-audit-test";

let dir: string;
let nats: NatsFixture;
let etcd: TestEtcd;
let extractor: Awaited<ReturnType<typeof startTestExtractor>>;
let coordinator: Awaited<ReturnType<typeof startTestCoordinator>>;
let gateway: Gateway;
let issuerEnv: Record<string, string>;
let client: ReturnType<typeof createClient<typeof MatchingService.method>>;
const as: Record<"investigator" | "colleague" | "clerk" | "auditor" | "admin", Metadata> = {} as never;

const image = (label: string) => new Uint8Array(Buffer.from(`image:${label}`));
const opts = (metadata?: Metadata) => ({ timeoutMs: 5_000, ...(metadata ? { metadata } : {}) });

function rejectsWith(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(ErrorCode[err.code], ErrorCode[code]);
    return true;
  };
}

/** Runs tajctl in-process: its output lines and exit code. */
async function tajctl(...args: string[]): Promise<{ out: string; code: number }> {
  const lines: string[] = [];
  process.exitCode = 0;
  await buildProgram((s) => lines.push(s)).exitOverride().parseAsync(["node", "tajctl", "--nats", nats.url, ...tajctlTlsFlags(), ...args]);
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { out: lines.join("\n"), code };
}

async function queryAll(req: Parameters<typeof client.queryAudit>[0], metadata = as.auditor): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let pageToken = "";
  do {
    const res = await client.queryAudit({ ...req, pageToken }, opts(metadata));
    entries.push(...res.entries);
    pageToken = res.nextPageToken;
  } while (pageToken);
  return entries;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taj-audit-test-"));
  nats = await startNats(17330);
  etcd = await startTestEtcd(17331, 17332);
  await etcd.client.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  extractor = await startTestExtractor();
  coordinator = await startTestCoordinator();
  const issuer = await LocalIssuer.open(dir);
  issuerEnv = issuer.gatewayEnv();
  as.investigator = await issuer.metadata({ sub: "inspector-7", roles: ["search"] });
  as.colleague = await issuer.metadata({ sub: "inspector-9", roles: ["search"] });
  as.clerk = await issuer.metadata({ sub: "clerk-1", roles: ["enroll"] });
  as.auditor = await issuer.metadata({ sub: "auditor-1", roles: ["audit"] });
  as.admin = await issuer.metadata({ sub: "admin-1", roles: ["admin"] });
  const config = GatewayConfig.parse({
    ...gatewayTlsEnv(),
    SITE: "a",
    GATEWAY_ID,
    GRPC_PORT: "0",
    EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`,
    COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
    NATS_URLS: nats.url,
    ETCD_ENDPOINTS: etcd.endpoint,
    AUDIT_APPEND_TIMEOUT_MS: "500",
    ...issuer.gatewayEnv(),
  });
  gateway = await startGateway(config, createLogger("gateway", "silent"));
  client = createClient(MatchingService, `127.0.0.1:${gateway.port}`, bearerCredentials());
});

after(async () => {
  client?.close();
  await gateway?.close();
  await extractor?.server.shutdown(100);
  await coordinator?.server.shutdown(100);
  await nats?.stop();
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let searchId = "";
let scriptStart = 0;
let scriptEnd = 0;
/** The scripted calls, without the QueryAudit calls made since. */
const script = () => ({ from: timestampFromMs(scriptStart - 1), to: timestampFromMs(scriptEnd) });

test("the audit query returns exactly the events of a scripted sequence of calls, allowed and refused", async () => {
  scriptStart = Date.now();
  coordinator.state.answer = { candidates: [{ id: "rec-a", similarity: 0.93, rank: 1 }, { id: "rec-b", similarity: 0.61, rank: 2 }], partitionCount: PARTITIONS };
  const enrolled = await client.enroll({ modality: Modality.FACE, id: "rec-a", image: image("a") }, opts(as.clerk));
  const searched = await client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-1", maxCandidates: 5 }, opts(as.investigator));
  searchId = searched.searchId;
  const extractions = extractor.state.calls;
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-2" }, opts()), rejectsWith(ErrorCode.UNAUTHENTICATED));
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-3" }, opts(as.clerk)), rejectsWith(ErrorCode.PERMISSION_DENIED));
  assert.equal(extractor.state.calls, extractions, "refused calls do no work: no extraction");
  const got = await client.get({ modality: Modality.FACE, id: "rec-a" }, opts(as.clerk));
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-4", maxCandidates: 100_000 }, opts(as.investigator)), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  await client.stats({}, opts(as.admin));
  const deleted = await client.delete({ modality: Modality.FACE, id: "rec-a" }, opts(as.clerk));

  scriptEnd = Date.now() + 1;
  await new Promise((r) => setTimeout(r, 10)); // events are stamped in ms: the queries below come after `to`
  assert.match(searchId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "the search id is a UUIDv7");
  const entries = await queryAll({ ...script(), pageSize: 3 });
  const rows = entries.map(({ event: e }) => [e!.rpc, e!.principal?.id, e!.outcome, e!.caseRef, e!.recordId]);
  assert.deepEqual(rows, [
    ["Enroll", "oidc:clerk-1", "OK", "", "rec-a"],
    ["Search", "oidc:inspector-7", "OK", "CASE-1", ""],
    ["Search", "anonymous", "UNAUTHENTICATED", "CASE-2", ""],
    ["Search", "oidc:clerk-1", "PERMISSION_DENIED", "CASE-3", ""],
    ["Get", "oidc:clerk-1", "OK", "", "rec-a"],
    ["Search", "oidc:inspector-7", "INVALID_ARGUMENT", "CASE-4", ""],
    ["Stats", "oidc:admin-1", "OK", "", ""],
    ["Delete", "oidc:clerk-1", "OK", "", "rec-a"],
  ]);
  const [enroll, search, anonymous] = entries.map((e) => e.event!);
  assert.equal(anonymous!.principal?.kind, PrincipalKind.ANONYMOUS);
  assert.equal(enroll!.logSequence, enrolled.logSequence);
  assert.equal(entries[4]!.event!.logSequence, got.logSequence);
  assert.equal(entries[7]!.event!.logSequence, deleted.logSequence);
  assert.equal(search!.eventId, searchId);
  assert.equal(search!.modality, Modality.FACE);
  assert.deepEqual(search!.search?.candidates.map((c) => [c.id, c.rank, c.similarity.toFixed(2)]), [["rec-a", 1, "0.93"], ["rec-b", 2, "0.61"]]);
  assert.equal(search!.search?.maxCandidates, 5);
  assert.equal(search!.search?.complete, true);
  assert.ok(Math.abs((search!.search?.similarityThreshold ?? 0) - 0.4) < 1e-6);
  // One chain, linked: consecutive sequences, each event pointing at the previous record's hash.
  entries.forEach((e, i) => {
    assert.equal(e.event!.gatewayId, GATEWAY_ID);
    if (i > 0) {
      assert.equal(e.event!.chainSequence, entries[i - 1]!.event!.chainSequence + 1n);
      assert.deepEqual(Buffer.from(e.event!.prevHash), Buffer.from(entries[i - 1]!.hash));
    }
  });
  // Never the image (nor the template): the stored records hold no image bytes.
  const jsm = await nats.nc.jetstreamManager();
  for (const e of entries) {
    const stored = await jsm.streams.getMessage(AUDIT_STREAM, { seq: Number(e.streamSequence) });
    assert.ok(!Buffer.from(stored.data).includes("image:"), "no image bytes in the audit record");
    assert.deepEqual(Buffer.from(hashEventBytes(decodeAuditRecord(stored.data).event)), Buffer.from(e.hash));
  }
});

test("each filter narrows the query; paging is stable; a garbled page token is refused; the query itself is audited", async () => {
  const since = script();
  const rpcs = (es: AuditEntry[]) => es.map((e) => `${e.event!.rpc}:${e.event!.outcome}`);
  assert.deepEqual(rpcs(await queryAll({ ...since, recordId: "rec-a" })), ["Enroll:OK", "Search:OK", "Get:OK", "Delete:OK"]);
  assert.deepEqual(rpcs(await queryAll({ ...since, recordId: "rec-b" })), ["Search:OK"]);
  assert.deepEqual(rpcs(await queryAll({ ...since, principalId: "oidc:inspector-7" })), ["Search:OK", "Search:INVALID_ARGUMENT"]);
  assert.deepEqual(rpcs(await queryAll({ ...since, caseRef: "CASE-3" })), ["Search:PERMISSION_DENIED"]);
  assert.deepEqual(rpcs(await queryAll({ ...since, rpc: "Delete" })), ["Delete:OK"]);
  assert.deepEqual(rpcs(await queryAll({ ...since, modality: Modality.TATTOO })), []);
  assert.deepEqual(rpcs(await queryAll({ from: timestampFromMs(Date.now() + 60_000) })), []);
  const first = await client.queryAudit({ ...since, pageSize: 2 }, opts(as.auditor));
  assert.equal(first.entries.length, 2);
  const token = first.nextPageToken;
  const garbled = token.slice(0, 4) + (token[4] === "A" ? "B" : "A") + token.slice(5);
  await assert.rejects(client.queryAudit({ ...since, pageSize: 2, pageToken: garbled }, opts(as.auditor)), rejectsWith(ErrorCode.INVALID_PAGE_TOKEN));
  await assert.rejects(client.queryAudit({ ...since, rpc: "Search", pageSize: 2, pageToken: token }, opts(as.auditor)), rejectsWith(ErrorCode.INVALID_PAGE_TOKEN), "a token of another query");
  await assert.rejects(client.queryAudit({ pageSize: 1001 }, opts(as.auditor)), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  await assert.rejects(client.queryAudit({}, opts(as.investigator)), rejectsWith(ErrorCode.PERMISSION_DENIED));
  const audits = await queryAll({ from: since.from, rpc: "QueryAudit" });
  assert.ok(audits.length >= 10, "every QueryAudit call is itself in the trail");
  assert.ok(audits.some((e) => e.event!.outcome === "INVALID_PAGE_TOKEN" && e.event!.principal?.id === "oidc:auditor-1"));
  assert.ok(audits.some((e) => e.event!.outcome === "PERMISSION_DENIED" && e.event!.principal?.id === "oidc:inspector-7"));
});

test("a call refused by its principal's rate limit is audited under that principal, on the refusing gateway's own chain", async () => {
  const limited = await startGateway(
    GatewayConfig.parse({
      ...gatewayTlsEnv(),
      SITE: "b", GATEWAY_ID: "gw-rate-limited", GRPC_PORT: "0",
      EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`, COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
      NATS_URLS: nats.url, ETCD_ENDPOINTS: etcd.endpoint,
      RATE_LIMIT_PER_PRINCIPAL_PER_S: "0.05", RATE_LIMIT_PER_PRINCIPAL_BURST: "0",
      ...issuerEnv,
    }),
    createLogger("gateway", "silent"),
  );
  const other = createClient(MatchingService, `127.0.0.1:${limited.port}`, bearerCredentials());
  try {
    const from = timestampFromMs(Date.now());
    await other.stats({}, opts(as.admin));
    await assert.rejects(other.stats({}, opts(as.admin)), rejectsWith(ErrorCode.RATE_LIMITED));
    const events = (await queryAll({ from, rpc: "Stats" })).map((e) => e.event!);
    assert.deepEqual(events.map((e) => [e.gatewayId, e.chainSequence, e.principal?.id, e.outcome]), [
      ["gw-rate-limited", 1n, "oidc:admin-1", "OK"],
      ["gw-rate-limited", 2n, "oidc:admin-1", "RATE_LIMITED"],
    ]);
  } finally {
    other.close();
    await limited.close();
  }
});

test("feedback: only the search's own investigator, only returned candidates; the summary counts the latest verdicts", async () => {
  await assert.rejects(client.recordFeedback({ searchId, candidateId: "rec-a", verdict: Verdict.CONFIRMED }, opts(as.colleague)), rejectsWith(ErrorCode.SEARCH_NOT_FOUND));
  await assert.rejects(client.recordFeedback({ searchId, candidateId: "rec-zzz", verdict: Verdict.CONFIRMED }, opts(as.investigator)), rejectsWith(ErrorCode.CANDIDATE_NOT_RETURNED));
  const unknown = "01890a5d-ac96-774b-bcce-b302099a8057";
  await assert.rejects(client.recordFeedback({ searchId: unknown, candidateId: "rec-a", verdict: Verdict.CONFIRMED }, opts(as.investigator)), rejectsWith(ErrorCode.SEARCH_NOT_FOUND));
  await assert.rejects(client.recordFeedback({ searchId: "not-a-uuid", candidateId: "rec-a", verdict: Verdict.CONFIRMED }, opts(as.investigator)), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  await assert.rejects(client.recordFeedback({ searchId, candidateId: "rec-a", verdict: Verdict.UNSPECIFIED }, opts(as.investigator)), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  // Events are stamped in ms: leave a gap so the refused calls above are before `before`.
  await new Promise((r) => setTimeout(r, 10));
  const before = Date.now();
  await client.recordFeedback({ searchId, candidateId: "rec-a", verdict: Verdict.REJECTED }, opts(as.investigator));
  const recorded = await client.recordFeedback({ searchId, candidateId: "rec-a", verdict: Verdict.CONFIRMED }, opts(as.investigator));
  assert.ok(recorded.recordedAt);
  await client.recordFeedback({ searchId, candidateId: "rec-b", verdict: Verdict.REJECTED }, opts(as.investigator));
  const summary = await client.feedbackSummary({ from: timestampFromMs(before) }, opts(as.auditor));
  const rows = (bs: typeof summary.byRank) => bs.map((b) => [b.label, b.confirmed, b.rejected, b.unsure, Number(b.confirmedRate.toFixed(3))]);
  assert.deepEqual(rows(summary.byModality), [["face", 1, 1, 0, 0.5]]);
  assert.deepEqual(rows(summary.byRank), [["1", 1, 0, 0, 1], ["2", 0, 1, 0, 0]]);
  assert.deepEqual(rows(summary.byScoreBand), [["0.6-0.7", 0, 1, 0, 0], ["0.9-1.0", 1, 0, 0, 1]]);
  assert.equal(summary.byWeek.length, 1);
  assert.match(summary.byWeek[0]!.label, /^\d{4}-W\d{2}$/);
  assert.deepEqual(rows(summary.byModality).length, 1);
  const empty = await client.feedbackSummary({ from: timestampFromMs(before), modality: Modality.TATTOO }, opts(as.auditor));
  assert.deepEqual(empty.byModality, []);
  await assert.rejects(client.feedbackSummary({}, opts(as.investigator)), rejectsWith(ErrorCode.PERMISSION_DENIED));
  const fb = await queryAll({ from: timestampFromMs(before), rpc: "RecordFeedback" });
  assert.deepEqual(fb.map((e) => [e.event!.outcome, e.event!.feedback?.candidateId, e.event!.feedback?.rank, e.event!.caseRef]), [
    ["OK", "rec-a", 1, "CASE-1"], ["OK", "rec-a", 1, "CASE-1"], ["OK", "rec-b", 2, "CASE-1"],
  ]);
  // tajctl shows the same summary through the gateway.
  const token = as.auditor.get("authorization")[0]!.toString().replace("Bearer ", "");
  const cli = await tajctl("feedback-summary", "--gateway", `127.0.0.1:${gateway.port}`, "--token", token, "--from", new Date(before).toISOString(), "--json");
  assert.equal((JSON.parse(cli.out) as { byModality: Array<{ label: string; confirmed: number }> }).byModality[0]?.confirmed, 1);
});

test("tajctl audit query and verify pass on the real stream; verify catches an edited, a removed and a reordered event", async () => {
  const token = as.auditor.get("authorization")[0]!.toString().replace("Bearer ", "");
  const q = await tajctl("audit", "query", "--gateway", `127.0.0.1:${gateway.port}`, "--token", token, "--record", "rec-b", "--from", new Date(scriptStart - 1).toISOString(), "--json");
  const lines = q.out.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { event: { rpc: string } });
  // The auditor who looked the record up earlier is an event about it too.
  assert.deepEqual(lines.map((l) => l.event.rpc), ["Search", "QueryAudit", "RecordFeedback"]);

  const ok = await tajctl("audit", "verify");
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, new RegExp(`${GATEWAY_ID}: \\d+ events, chain 1\\.\\.\\d+: ok`));
  assert.match(ok.out, /truncation/);

  // An export verifies; an edit of the readable event, of the record, a removed line and a swapped pair do not.
  const file = join(dir, "audit.jsonl");
  assert.equal((await tajctl("audit", "export", "--out", file)).code, 0);
  assert.equal((await tajctl("audit", "verify", "--file", file)).code, 0);
  const original = readFileSync(file, "utf8").trim().split("\n");
  const variant = (name: string, ls: string[]) => {
    const p = join(dir, `${name}.jsonl`);
    writeFileSync(p, `${ls.join("\n")}\n`);
    return p;
  };
  const readable = original.map((l, i) => (i === 1 ? l.replace("CASE-1", "CASE-X") : l));
  const r1 = await tajctl("audit", "verify", "--file", variant("readable", readable));
  assert.equal(r1.code, 4);
  assert.match(r1.out, /line 2: the readable event differs/);
  const reSealed = original.map((l, i) => {
    if (i !== 1) return l;
    const line = JSON.parse(l) as { record: string; event?: unknown };
    const event = decodeAuditEvent(decodeAuditRecord(Buffer.from(line.record, "base64")).event);
    event.caseRef = "CASE-X";
    const bytes = toBinary(AuditEventSchema, event);
    const record = toBinary(AuditRecordSchema, create(AuditRecordSchema, { event: bytes, hash: hashEventBytes(bytes) }));
    delete line.event;
    return JSON.stringify({ ...line, record: Buffer.from(record).toString("base64") });
  });
  const r2 = await tajctl("audit", "verify", "--file", variant("resealed", reSealed));
  assert.equal(r2.code, 4);
  assert.match(r2.out, /BROKEN at stream sequence 2 \(expected chain_sequence 2\): altered/);
  const r3 = await tajctl("audit", "verify", "--file", variant("removed", original.filter((_, i) => i !== 3)));
  assert.match(r3.out, /BROKEN at stream sequence 5 \(expected chain_sequence 4\): removed/);
  const swapped = [...original];
  [swapped[2], swapped[3]] = [swapped[3]!, swapped[2]!];
  const r4 = await tajctl("audit", "verify", "--file", variant("swapped", swapped));
  assert.match(r4.out, /BROKEN at stream sequence 4 \(expected chain_sequence 3\): reordered/);

  // On the live stream: delete an event with the JetStream API and republish an altered copy.
  const jsm = await nats.nc.jetstreamManager();
  const victim = await jsm.streams.getMessage(AUDIT_STREAM, { seq: 2 });
  const event = decodeAuditEvent(decodeAuditRecord(victim.data).event);
  event.caseRef = "CASE-FORGED";
  const bytes = toBinary(AuditEventSchema, event);
  await jsm.streams.deleteMessage(AUDIT_STREAM, 2);
  await nats.nc.jetstream().publish(auditSubject(GATEWAY_ID), toBinary(AuditRecordSchema, create(AuditRecordSchema, { event: bytes, hash: hashEventBytes(bytes) })));
  const tampered = await tajctl("audit", "verify");
  assert.equal(tampered.code, 4);
  assert.match(tampered.out, /BROKEN at stream sequence 3 \(expected chain_sequence 2\): altered: chain_sequence 2 was removed here and an edited copy appended/);
});

test("no audit, no answer: with the audit stream gone a search fails AUDIT_UNAVAILABLE and returns no candidates", async () => {
  coordinator.state.answer = { candidates: [{ id: "rec-secret", similarity: 0.99, rank: 1 }], partitionCount: PARTITIONS };
  const jsm = await nats.nc.jetstreamManager();
  await jsm.streams.delete(AUDIT_STREAM);
  const asked = coordinator.state.requests.length;
  await assert.rejects(
    client.search({ modality: Modality.FACE, image: image("probe"), caseRef: "CASE-9" }, opts(as.investigator)),
    (err: unknown) => {
      rejectsWith(ErrorCode.AUDIT_UNAVAILABLE)(err);
      assert.ok(!String((err as Error).message).includes("rec-secret"));
      return true;
    },
  );
  assert.equal(coordinator.state.requests.length, asked + 1, "the search ran, but its answer was withheld");
  await assert.rejects(client.get({ modality: Modality.FACE, id: "rec-a" }, opts(as.clerk)), rejectsWith(ErrorCode.AUDIT_UNAVAILABLE));
  await assert.rejects(client.search({ modality: Modality.FACE, image: image("p") }, opts()), rejectsWith(ErrorCode.AUDIT_UNAVAILABLE), "refused calls too");
  const metrics = await (await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`)).text();
  const sample = (name: string, label: string) => Number(new RegExp(`^${name}\\{[^}]*${label}[^}]*\\} (\\d+)`, "m").exec(metrics)?.[1]);
  assert.equal(sample("taj_gateway_audit_write_failures_total", `rpc="Search"`), 2);
  assert.equal(sample("taj_gateway_audit_write_failures_total", `rpc="Get"`), 1);
  assert.ok(sample("taj_gateway_audit_append_duration_seconds_count", `outcome="stored"`) > 20);
  assert.equal(sample("taj_gateway_audit_append_duration_seconds_count", `outcome="failed"`), 3);
});
