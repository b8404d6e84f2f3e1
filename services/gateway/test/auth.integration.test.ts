import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { status, type Metadata, type ServiceError } from "@grpc/grpc-js";
import {
  AppError, PARTITION_COUNT_KEY, addService, createClient, createLogger, startGrpcServer, type CallOptions, type GrpcServer,
} from "@taj/common";
import { ErrorCode, ExtractorService, MatchingService, Modality, SearchMode, Verdict } from "@taj/proto";
import { LocalIssuer, bearerMetadata, startTestEtcd, type TestEtcd } from "@taj/devcluster";
import { startNats, type NatsFixture } from "./fixtures/nats.ts";
import { bearerCredentials, extractorServerCredentials, gatewayTlsEnv } from "./fixtures/tls.ts";
import { startTestCoordinator, templateOf } from "./fixtures/upstream-doubles.ts";
import { TestPki } from "./fixtures/certificates.ts";
import { GatewayConfig } from "../src/config.ts";
import { startGateway, type Gateway } from "../src/app.ts";
import { RPC_ROLES, type GatewayRpc } from "../src/auth/index.ts";

// Ports of this package's tests: 17320-17339; this file uses 17334-17336.
const silent = createLogger("test", "silent");
let nats: NatsFixture;
let etcd: TestEtcd;
let coordinator: Awaited<ReturnType<typeof startTestCoordinator>>;
let extractor: { server: GrpcServer; state: { calls: number; delayMs: number } };
let gateway: Gateway;
let client: ReturnType<typeof createClient<typeof MatchingService.method>>;
let issuer: LocalIssuer;
let stranger: LocalIssuer;
let pki: TestPki;
let dir: string;

const image = new Uint8Array(Buffer.from("image:auth"));

before(async () => {
  nats = await startNats(17334);
  etcd = await startTestEtcd(17335, 17336);
  await etcd.client.put(PARTITION_COUNT_KEY).value("8");
  const state = { calls: 0, delayMs: 0 };
  const server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger: silent, serviceNames: [ExtractorService.typeName], credentials: extractorServerCredentials(),
    register: (s) =>
      addService(s, ExtractorService, {
        extract: async (req) => {
          state.calls++;
          if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
          return { template: templateOf(req.image), modelId: "test-model-1" };
        },
      }, silent),
  });
  extractor = { server, state };
  coordinator = await startTestCoordinator();
  dir = mkdtempSync(join(tmpdir(), "taj-auth-it-"));
  issuer = await LocalIssuer.open(dir);
  stranger = await LocalIssuer.open(join(dir, "stranger"));
  pki = new TestPki();
  const config = GatewayConfig.parse({
    ...gatewayTlsEnv(),
    SITE: "a",
    GRPC_PORT: "0",
    EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`,
    COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
    NATS_URLS: nats.url,
    ETCD_ENDPOINTS: etcd.endpoint,
    ...issuer.gatewayEnv(),
    // Callers here use tokens; certificate callers are in auth-tls.test.ts and test/tls.test.ts.
    CLIENT_CA_FILE: pki.ca("clients"),
    CLIENT_CERT_ROLES: "taj-system=search+enroll;tajctl=admin+audit",
    RATE_LIMIT_PER_PRINCIPAL_PER_S: "20",
    RATE_LIMIT_PER_PRINCIPAL_BURST: "0",
    // Every refused call of the matrix comes from 127.0.0.1: the address limit is shown in limits.test.ts.
    RATE_LIMIT_UNAUTHENTICATED_PER_S: "10000",
    EXTRACTOR_MAX_IN_FLIGHT: "1",
    EXTRACTOR_MAX_QUEUED: "1",
  });
  gateway = await startGateway(config, silent);
  client = createClient(MatchingService, `127.0.0.1:${gateway.port}`, bearerCredentials());
});

after(async () => {
  client?.close();
  await gateway?.close();
  await extractor?.server.shutdown(100);
  await coordinator?.server.shutdown(100);
  await nats?.stop();
  await etcd?.stop();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One well-formed call of each RPC, so that an allowed caller gets past every check but its role. */
function call(rpc: GatewayRpc, options: CallOptions): Promise<unknown> {
  switch (rpc) {
    case "Enroll": return client.enroll({ modality: Modality.FACE, id: "auth-rec-1", image }, options);
    case "Search": return client.search({ modality: Modality.FACE, image, caseRef: "CASE-AUTH-1" }, options);
    case "Delete": return client.delete({ modality: Modality.FACE, id: "auth-absent" }, options);
    case "Get": return client.get({ modality: Modality.FACE, id: "auth-absent" }, options);
    case "Stats": return client.stats({}, options);
    case "QueryAudit": return client.queryAudit({ caseRef: "CASE-AUTH-1" }, options);
    case "RecordFeedback":
      return client.recordFeedback({ searchId: "0190c1d2-0000-7000-8000-000000000000", candidateId: "auth-rec-1", verdict: Verdict.CONFIRMED }, options);
    case "FeedbackSummary": return client.feedbackSummary({}, options);
    case "EnrollStream": return enrollOneStreamed(options);
    case "GetSettings": return client.getSettings({}, options);
    // A revision no store reaches: allowed callers get past every check and change nothing.
    case "UpdateSettings":
      return client.updateSettings({ settings: { modality: Modality.MARK, similarityThreshold: 0.9, maxCandidates: 10, searchMode: SearchMode.EXHAUSTIVE }, expectedRevision: 999_999n, reason: "auth test" }, options);
    case "SettingsHistory": return client.settingsHistory({ modality: Modality.FACE }, options);
    // A model no record holds: the scan changes nothing.
    case "DropModelTemplates": return client.dropModelTemplates({ modality: Modality.FACE, modelId: "auth-no-such-model", reason: "auth test" }, options);
  }
}

/** One item through EnrollStream: the stream's status when it is refused, else the item's own outcome. */
async function enrollOneStreamed(options: CallOptions): Promise<void> {
  const stream = client.enrollStream(options);
  // A refused stream may end before the write is taken: its status comes from the responses.
  await stream.write({ item: 1n, enroll: { modality: Modality.FACE, id: "auth-rec-2", image } }).catch(() => undefined);
  stream.end();
  for await (const result of stream.responses) {
    if (result.outcome.case === "error") throw new AppError(result.outcome.value.code, result.outcome.value.message);
  }
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "OK";
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return ErrorCode[err.code] ?? String(err.code);
  }
}

/** What an allowed call answers here: the work's own outcome, never an auth refusal. */
const ALLOWED: Record<GatewayRpc, string[]> = {
  Enroll: ["OK"],
  EnrollStream: ["OK"],
  Search: ["OK"],
  Delete: ["OK"],
  Get: ["NOT_FOUND"],
  Stats: ["OK"],
  QueryAudit: ["OK"],
  RecordFeedback: ["SEARCH_NOT_FOUND"],
  FeedbackSummary: ["OK"],
  GetSettings: ["OK"],
  UpdateSettings: ["SETTINGS_REVISION_CHANGED"],
  SettingsHistory: ["OK"],
  DropModelTemplates: ["OK"],
};

test("every RPC x every role, no role, no credentials, an expired or foreign token: allowed or refused as the role table says", async () => {
  const opts = (metadata?: Metadata): CallOptions => ({ timeoutMs: 5_000, ...(metadata ? { metadata } : {}) });
  const callers: Array<{ name: string; metadata?: Metadata; roles: string[]; refusal: string }> = [
    { name: "no credentials", roles: [], refusal: "UNAUTHENTICATED" },
    { name: "expired token", metadata: await issuer.metadata({ sub: "late", roles: ["search", "enroll", "admin", "audit"], expiresInS: -60 }), roles: [], refusal: "UNAUTHENTICATED" },
    { name: "foreign key", metadata: await stranger.metadata({ sub: "root", roles: ["search", "enroll", "admin", "audit"] }), roles: [], refusal: "UNAUTHENTICATED" },
    { name: "garbage token", metadata: bearerMetadata("not-a-jwt"), roles: [], refusal: "UNAUTHENTICATED" },
    { name: "no role", metadata: await issuer.metadata({ sub: "nobody", roles: [] }), roles: [], refusal: "PERMISSION_DENIED" },
    ...(["search", "enroll", "admin", "audit"] as const).map((role) => ({ name: role, roles: [role], refusal: "PERMISSION_DENIED" })),
  ];
  for (const c of callers) {
    if (c.metadata === undefined && c.roles.length > 0) c.metadata = await issuer.metadata({ sub: `inspector-${c.name}`, roles: c.roles });
  }
  const table: string[] = [];
  for (const c of callers) {
    for (const rpc of Object.keys(RPC_ROLES) as GatewayRpc[]) {
      const allowed = c.roles.includes(["", "search", "enroll", "admin", "audit"][RPC_ROLES[rpc]]!);
      const extractions = extractor.state.calls;
      const got = await outcome(call(rpc, opts(c.metadata)));
      table.push(`${c.name} ${rpc} ${got}`);
      if (allowed) {
        assert.ok(ALLOWED[rpc].includes(got), `${c.name} ${rpc}: allowed, got ${got}`);
      } else {
        assert.equal(got, c.refusal, `${c.name} ${rpc}`);
        assert.equal(extractor.state.calls, extractions, `${c.name} ${rpc}: refused before any work`);
      }
    }
  }
  // Every allowed (caller, RPC) pair is exactly the table's: one per RPC, one role each.
  assert.equal(table.filter((l) => !/UNAUTHENTICATED|PERMISSION_DENIED/.test(l)).length, Object.keys(RPC_ROLES).length);
});

test("a principal holding several roles may call each of their RPCs; x-taj-user names nobody", async () => {
  const metadata = await issuer.metadata({ sub: "supervisor", roles: ["search", "audit"] });
  assert.equal(await outcome(call("Search", { metadata, timeoutMs: 5_000 })), "OK");
  assert.equal(await outcome(call("QueryAudit", { metadata, timeoutMs: 5_000 })), "OK");
  assert.equal(await outcome(call("Enroll", { metadata, timeoutMs: 5_000 })), "PERMISSION_DENIED");
  const spoof = await issuer.metadata({ sub: "nobody-2", roles: [] });
  spoof.set("x-taj-user", "root-admin-spoofed");
  assert.equal(await outcome(call("Stats", { metadata: spoof, timeoutMs: 5_000 })), "PERMISSION_DENIED");
});

test("a search without case_ref, or with a malformed one, is refused before any work", async () => {
  const metadata = await issuer.metadata({ sub: "inspector-cr", roles: ["search"] });
  const before = extractor.state.calls;
  assert.equal(await outcome(client.search({ modality: Modality.FACE, image }, { metadata, timeoutMs: 5_000 })), "CASE_REF_REQUIRED");
  assert.equal(await outcome(client.search({ modality: Modality.FACE, image, caseRef: "PV n°12" }, { metadata, timeoutMs: 5_000 })), "INVALID_ARGUMENT");
  assert.equal(extractor.state.calls, before);
});

test("over its rate a principal gets RESOURCE_EXHAUSTED (RATE_LIMITED) with retry_after_ms; others are not slowed", async () => {
  const flooder = await issuer.metadata({ sub: "flooder", roles: ["admin"] });
  const other = await issuer.metadata({ sub: "calm-admin", roles: ["admin"] });
  const results = await Promise.allSettled(Array.from({ length: 30 }, () => client.stats({}, { metadata: flooder, timeoutMs: 5_000 })));
  const limited = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  assert.ok(results.filter((r) => r.status === "fulfilled").length <= 20);
  assert.ok(limited.length >= 10, `${limited.length} refused`);
  for (const r of limited) {
    const err = r.reason as AppError;
    assert.equal(ErrorCode[err.code], "RATE_LIMITED");
    assert.equal((err.cause as ServiceError).code, status.RESOURCE_EXHAUSTED);
    assert.ok(err.retryAfterMs > 0 && err.retryAfterMs <= 1_000, `retry_after_ms ${err.retryAfterMs}`);
  }
  assert.equal(await outcome(client.stats({}, { metadata: other, timeoutMs: 5_000 })), "OK");
});

test("back-pressure: with the extractor saturated a search gets RESOURCE_EXHAUSTED (OVERLOADED) with retry advice at once", async () => {
  extractor.state.delayMs = 400;
  try {
    const metadata = await issuer.metadata({ sub: "inspector-bp", roles: ["search"] });
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        client.search({ modality: Modality.FACE, image, caseRef: `CASE-BP-${i}` }, { metadata, timeoutMs: 5_000 }).then(
          () => ({ code: "OK", ms: Date.now() - started, err: undefined }),
          (err: AppError) => ({ code: ErrorCode[err.code], ms: Date.now() - started, err }),
        ),
      ),
    );
    // EXTRACTOR_MAX_IN_FLIGHT=1 + EXTRACTOR_MAX_QUEUED=1: two are served, three refused without waiting.
    assert.deepEqual(results.map((r) => r.code).sort(), ["OK", "OK", "OVERLOADED", "OVERLOADED", "OVERLOADED"]);
    for (const r of results.filter((x) => x.err)) {
      assert.equal((r.err!.cause as ServiceError).code, status.RESOURCE_EXHAUSTED);
      assert.ok(r.err!.retryAfterMs > 0, "retry advice");
      assert.ok(r.ms < 300, `refused at once (${r.ms} ms)`);
    }
  } finally {
    extractor.state.delayMs = 0;
  }
});
