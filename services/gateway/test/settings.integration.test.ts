import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Metadata } from "@grpc/grpc-js";
import { toJsonString } from "@bufbuild/protobuf";
import { AppError, PARTITION_COUNT_KEY, createClient, createLogger, settingsKey, tokenCallerCredentials } from "@taj/common";
import { ErrorCode, MatchingService, Modality, SearchMode, SettingsVersionSchema, type ModalitySettings } from "@taj/proto";
import { LocalIssuer, sharedTestPki, startTestEtcd, tlsEnvOf, type TestEtcd } from "@taj/devcluster";
import { startNats, type NatsFixture } from "./fixtures/nats.ts";
import { startTestCoordinator, startTestExtractor } from "./fixtures/upstream-doubles.ts";
import { GatewayConfig } from "../src/config.ts";
import { startGateway, type Gateway } from "../src/app.ts";

// Ports of this package's tests: 17320-17339; this file 17337-17339.
type Client = ReturnType<typeof createClient<typeof MatchingService.method>>;

let nats: NatsFixture;
let etcd: TestEtcd;
let extractor: Awaited<ReturnType<typeof startTestExtractor>>;
let coordinator: Awaited<ReturnType<typeof startTestCoordinator>>;
let issuer: LocalIssuer;
let dir: string;
const gateways: Gateway[] = [];
const clients: Client[] = [];
let siteA: Client;
let siteB: Client;
const admin: { timeoutMs: number; metadata?: Metadata } = { timeoutMs: 5_000 };

const image = new Uint8Array(Buffer.from("image:settings"));

/** A gateway of `site` whose environment asks for its own initial face threshold. */
async function gatewayAt(site: string, faceThreshold: string): Promise<Client> {
  const config = GatewayConfig.parse({
    ...tlsEnvOf(sharedTestPki().issue("gateway", `gateway-${site}`)),
    SITE: site,
    GRPC_PORT: "0",
    EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`,
    COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
    NATS_URLS: nats.url,
    ETCD_ENDPOINTS: etcd.endpoint,
    DEFAULT_SIMILARITY_THRESHOLD_FACE: faceThreshold,
    ...issuer.gatewayEnv(),
  });
  const gateway = await startGateway(config, createLogger("gateway", "silent"));
  gateways.push(gateway);
  const client = createClient(MatchingService, `127.0.0.1:${gateway.port}`, tokenCallerCredentials(sharedTestPki().client.caFile));
  clients.push(client);
  return client;
}

function rejectsWith(code: ErrorCode) {
  return (err: unknown) => {
    assert.ok(err instanceof AppError, String(err));
    assert.equal(ErrorCode[err.code], ErrorCode[code]);
    return true;
  };
}

async function faceVersion(client: Client) {
  const res = await client.getSettings({}, admin);
  assert.equal(res.settings.length, 3, "one version per modality");
  return res.settings.find((v) => v.settings?.modality === Modality.FACE)!;
}

/** Polls `client` until it applies face revision `revision`; the time it took. */
async function seenWithin(client: Client, revision: bigint, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    if ((await faceVersion(client)).revision === revision) return performance.now() - started;
    assert.ok(performance.now() - started < limitMs, `revision ${revision} not applied within ${limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const face = (patch: Partial<Omit<ModalitySettings, "$typeName" | "quality">> & { quality?: object } = {}) => ({
  modality: Modality.FACE, similarityThreshold: 0.47, maxCandidates: 7, searchMode: SearchMode.APPROXIMATE, quality: {}, ...patch,
});

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taj-gateway-settings-"));
  issuer = await LocalIssuer.open(dir);
  admin.metadata = await issuer.metadata({ sub: "admin-3", roles: ["admin", "search", "enroll", "audit"] });
  nats = await startNats(17337);
  etcd = await startTestEtcd(17338, 17339);
  await etcd.client.put(PARTITION_COUNT_KEY).value("8");
  extractor = await startTestExtractor();
  coordinator = await startTestCoordinator();
  siteA = await gatewayAt("a", "0.41");
  // Started second: its environment's 0.55 is not used, etcd already holds site a's initial values.
  siteB = await gatewayAt("b", "0.55");
});

after(async () => {
  for (const c of clients) c.close();
  for (const g of gateways) await g.close();
  await extractor?.server.shutdown(100);
  await coordinator?.server.shutdown(100);
  await nats?.stop();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the first gateway's environment gives the initial values, once; every gateway applies etcd's", async () => {
  for (const client of [siteA, siteB]) {
    const version = await faceVersion(client);
    assert.equal(version.revision, 1n);
    assert.equal(version.changedBy, "gateway:gateway-a");
    assert.ok(Math.abs(version.settings!.similarityThreshold - 0.41) < 1e-6, "site a's environment, at both sites");
    assert.equal(version.settings!.searchMode, SearchMode.EXHAUSTIVE);
  }
});

test("a change at site a is applied by site b's gateway within seconds: its searches run with the new defaults and quality gate", async () => {
  const updated = await siteA.updateSettings({ settings: face({ quality: { minInterOcularPx: 70 } }), expectedRevision: 1n, reason: "CHG-1: raise the face gate" }, admin);
  assert.equal(updated.version?.revision, 2n);
  assert.equal(updated.version?.changedBy, "oidc:admin-3");
  const ms = await seenWithin(siteB, 2n, 5_000);
  console.log(`site b applied revision 2 ${ms.toFixed(0)} ms after site a answered`);

  // The stand-in extractor measures 60 px between the eyes: below the new 70 px gate.
  const asked = coordinator.state.requests.length;
  await assert.rejects(siteB.search({ modality: Modality.FACE, image, caseRef: "CASE-S1" }, admin), rejectsWith(ErrorCode.FACE_TOO_SMALL));
  await assert.rejects(siteB.enroll({ modality: Modality.FACE, id: "rec-s1", image }, admin), rejectsWith(ErrorCode.FACE_TOO_SMALL));
  assert.equal(coordinator.state.requests.length, asked, "a probe below the gate is never searched");

  await siteA.updateSettings({ settings: face({ quality: { minInterOcularPx: 50 } }), expectedRevision: 2n, reason: "CHG-2: 50 px" }, admin);
  await seenWithin(siteB, 3n, 5_000);
  const res = await siteB.search({ modality: Modality.FACE, image, caseRef: "CASE-S2" }, admin);
  assert.ok(Math.abs(res.similarityThreshold - 0.47) < 1e-6);
  assert.equal(res.maxCandidates, 7);
  assert.equal(res.mode, SearchMode.APPROXIMATE);
  const sent = coordinator.state.requests.at(-1)!;
  assert.ok(Math.abs(sent.similarityThreshold - 0.47) < 1e-6);
  assert.equal(sent.maxCandidates, 7);
  assert.equal(sent.mode, SearchMode.APPROXIMATE);
  const explicit = await siteB.search({ modality: Modality.FACE, image, caseRef: "CASE-S3", similarityThreshold: 0.3, maxCandidates: 2, mode: SearchMode.EXHAUSTIVE }, admin);
  assert.deepEqual([explicit.maxCandidates, explicit.mode], [2, SearchMode.EXHAUSTIVE], "a request's own values still win");
});

test("a stale revision, a bad value or a missing reason changes nothing", async () => {
  const before = await faceVersion(siteA);
  await assert.rejects(
    siteB.updateSettings({ settings: face({ similarityThreshold: 0.9 }), expectedRevision: before.revision - 1n, reason: "stale" }, admin),
    rejectsWith(ErrorCode.SETTINGS_REVISION_CHANGED),
  );
  for (const [settings, reason] of [
    [face({ similarityThreshold: 2 }), "bad threshold"],
    [face({ searchMode: SearchMode.UNSPECIFIED }), "no mode"],
    [face({ quality: { minContrast: 0.1 } }), "a tattoo gate on faces"],
    [face(), ""],
  ] as const) {
    await assert.rejects(siteA.updateSettings({ settings, expectedRevision: before.revision, reason }, admin), rejectsWith(ErrorCode.INVALID_ARGUMENT));
  }
  const after = await faceVersion(siteB);
  assert.equal(after.revision, before.revision);
  assert.ok(Math.abs(after.settings!.similarityThreshold - 0.47) < 1e-6);
});

test("anything invalid written to etcd by hand is ignored; the last valid settings stay applied", async () => {
  const before = await faceVersion(siteB);
  await etcd.client.put(settingsKey("face")).value("{not json");
  await etcd.client.put(settingsKey("face")).value(JSON.stringify({ settings: { modality: "MODALITY_FACE", similarityThreshold: 7, maxCandidates: 1, searchMode: "SEARCH_MODE_EXHAUSTIVE" }, revision: "99" }));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await faceVersion(siteB)).revision, before.revision);
  // Put the valid version back, so an update can compare against it.
  const version = await faceVersion(siteA);
  await assert.rejects(
    siteA.updateSettings({ settings: face(), expectedRevision: version.revision, reason: "over garbage" }, admin),
    (err: unknown) => err instanceof AppError && err.code === ErrorCode.INTERNAL && !err.message.includes("{not"),
    "an unreadable stored value is an internal fault, its content never echoed",
  );
  await etcd.client.put(settingsKey("face")).value(toJsonString(SettingsVersionSchema, version));
});

test("history lists every version newest first with who and why; the audit event holds the version before and after", async () => {
  const history = await siteB.settingsHistory({ modality: Modality.FACE }, admin);
  assert.deepEqual(history.versions.map((v) => v.revision), [3n, 2n, 1n]);
  assert.deepEqual(history.versions.map((v) => v.reason), ["CHG-2: 50 px", "CHG-1: raise the face gate", "initial values from the gateway's environment"]);
  assert.equal(history.versions[1]!.settings?.quality?.minInterOcularPx, 70);
  const page = await siteB.settingsHistory({ modality: Modality.FACE, beforeRevision: 3n, pageSize: 1 }, admin);
  assert.deepEqual(page.versions.map((v) => v.revision), [2n]);
  assert.deepEqual((await siteB.settingsHistory({ modality: Modality.TATTOO }, admin)).versions.map((v) => v.revision), [1n]);

  const audit = await siteA.queryAudit({ rpc: "UpdateSettings", pageSize: 100 }, admin);
  const ok = audit.entries.map((e) => e.event!).filter((e) => e.outcome === "OK");
  assert.deepEqual(ok.map((e) => [e.settings?.before?.revision, e.settings?.after?.revision]), [[1n, 2n], [2n, 3n]]);
  assert.equal(ok[0]!.principal?.id, "oidc:admin-3");
  assert.equal(ok[0]!.modality, Modality.FACE);
  assert.equal(ok[0]!.settings?.after?.settings?.quality?.minInterOcularPx, 70);
  const refused = audit.entries.map((e) => e.event!).filter((e) => e.outcome !== "OK").map((e) => e.outcome);
  assert.ok(refused.includes("SETTINGS_REVISION_CHANGED") && refused.includes("INVALID_ARGUMENT"), refused.join(","));
});

test("a gateway restarted with other environment values keeps applying etcd's", async () => {
  const late = await gatewayAt("b", "0.99");
  const version = await faceVersion(late);
  assert.equal(version.revision, 3n);
  assert.ok(Math.abs(version.settings!.similarityThreshold - 0.47) < 1e-6);
});

test("settings need the admin role", async () => {
  const searcher = { timeoutMs: 5_000, metadata: await issuer.metadata({ sub: "inspector-1", roles: ["search"] }) };
  await assert.rejects(siteA.getSettings({}, searcher), rejectsWith(ErrorCode.PERMISSION_DENIED));
  await assert.rejects(siteA.updateSettings({ settings: face(), expectedRevision: 3n, reason: "not mine" }, searcher), rejectsWith(ErrorCode.PERMISSION_DENIED));
});
