/**
 * Measures what the awaited audit write costs a search, in one run (not a test; run by hand):
 *   node --import tsx services/gateway/test/measure-audit-cost.ts [searches]
 *
 * A real three-node JetStream cluster (audit stream R3), the real gateway service (gate with real
 * OIDC tokens, authorize, handlers, audit wrapper) behind real gRPC, and the extractor and
 * coordinator test doubles (gRPC servers with canned answers, so the model and the shards are not
 * in the figures). Searches alternate between two gateways that differ only in whether the
 * wrapper waits for the audit append's PubAck ("awaited", the product) or lets it run behind the
 * answer ("not awaited", for comparison only), so drift hits both alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "nats";
import { addService, bootstrapStreams, clusterStreams, createClient, createLogger, natsTls, serverCredentials, startGrpcServer } from "@taj/common";
import { create } from "@bufbuild/protobuf";
import { MatchingService, Modality, ModalitySettingsSchema, SearchMode } from "@taj/proto";
import { LocalIssuer, ensureServerBinaries, sharedTestPki, startNatsCluster } from "@taj/devcluster";
import { AuditTrail, type AuditPort } from "../src/audit/index.ts";
import { matchingService } from "../src/service.ts";
import { TemplateLog } from "../src/template-log.ts";
import { Coordinators, ExtractorPool } from "../src/upstreams.ts";
import { createCallGate } from "../src/auth/index.ts";
import { GatewayConfig } from "../src/config.ts";
import { startTestCoordinator, startTestExtractor } from "./fixtures/upstream-doubles.ts";
import { bearerCredentials, gatewayTlsEnv, gatewayUpstreamCredentials } from "./fixtures/tls.ts";

const N = Number(process.argv[2] ?? 1000);
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const summary = (ms: number[]) => {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: +pct(s, 50).toFixed(3), p90: +pct(s, 90).toFixed(3), p99: +pct(s, 99).toFixed(3), mean: +(s.reduce((a, b) => a + b, 0) / s.length).toFixed(3) };
};

const dir = mkdtempSync(join(tmpdir(), "taj-audit-cost-"));
const logger = createLogger("measure", "silent");
const cluster = await startNatsCluster({
  dir,
  binary: ensureServerBinaries().natsServer,
  pki: sharedTestPki(),
  nodes: ["a", "b", "w"].map((m, i) => ({ name: m, site: m, clientPort: 17390 + i, clusterPort: 17393 + i, monitorPort: 17396 + i })),
});
const extractor = await startTestExtractor();
const coordinator = await startTestCoordinator();
coordinator.state.answer = { candidates: Array.from({ length: 20 }, (_, i) => ({ id: `rec-${i}`, similarity: 0.9 - i * 0.01, rank: i + 1 })), partitionCount: 8 };
const issuer = await LocalIssuer.open(dir);
const metadata = await issuer.metadata({ sub: "inspector-7", roles: ["search"] });
const config = GatewayConfig.parse({
  ...gatewayTlsEnv(), SITE: "a", GRPC_PORT: "0", NATS_URLS: cluster.urls.join(","), ETCD_ENDPOINTS: "http://127.0.0.1:1",
  EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`, COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
  RATE_LIMIT_PER_PRINCIPAL_PER_S: "1000000", RATE_LIMIT_PER_PRINCIPAL_BURST: "1000000", ...issuer.gatewayEnv(),
});
const tls = sharedTestPki().issue("gateway", "gateway-under-test");
{
  const admin = await connect({ servers: cluster.urls, ...natsTls(sharedTestPki().admin, "admin") });
  await bootstrapStreams(await admin.jetstreamManager(), clusterStreams({ replicas: 3 }));
  await admin.close();
}
const log = await TemplateLog.open(config.NATS_URLS, tls, logger);
const appendMs: number[] = [];

async function gateway(gatewayId: string, awaited: boolean) {
  const trail = await AuditTrail.open(config.NATS_URLS, tls, { gatewayId, appendTimeoutMs: 2_000 }, logger);
  const audit: AuditPort = {
    scan: (o) => trail.scan(o),
    append: (d) => {
      const t0 = performance.now();
      const done = trail.append(d).then((r) => (appendMs.push(performance.now() - t0), r));
      return awaited ? done : Promise.resolve({ streamSequence: 0, chainSequence: 0n });
    },
  };
  const faceDefaults = create(ModalitySettingsSchema, { modality: Modality.FACE, similarityThreshold: 0.4, maxCandidates: 20, searchMode: SearchMode.EXHAUSTIVE });
  const impl = matchingService({
    limits: { maxImageBytes: config.MAX_IMAGE_BYTES, maxCandidatesLimit: 200, settings: () => faceDefaults, caseRefRequired: true },
    settings: { version: () => { throw new Error("not measured"); }, update: () => Promise.reject(new Error("not measured")), history: () => Promise.resolve([]) },
    gate: createCallGate(config, logger),
    extractors: new ExtractorPool(gatewayUpstreamCredentials(), config.EXTRACTOR_ADDRESSES),
    coordinators: new Coordinators(gatewayUpstreamCredentials(), config.COORDINATOR_ADDRESSES),
    log,
    partitionCount: () => 8,
    audit,
    auditLimits: { queryScanLimit: 10_000, feedbackScanLimit: 10_000, summaryScanLimit: 10_000 },
    metrics: undefined,
    requestTimeoutMs: 5_000,
    enrollStreamMaxInFlight: 16,
    logger,
  });
  const server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [MatchingService.typeName],
    credentials: serverCredentials(tls, { requireClientCert: false }), register: (s) => addService(s, MatchingService, impl, logger) });
  return { server, trail, client: createClient(MatchingService, `127.0.0.1:${server.port}`, bearerCredentials()) };
}

const withAudit = await gateway("gw-awaited", true);
const without = await gateway("gw-not-awaited", false);
const lat = { awaited: [] as number[], notAwaited: [] as number[] };
const search = (c: typeof withAudit.client) => c.search({ modality: Modality.FACE, image: new Uint8Array(Buffer.from("image:probe")), caseRef: "CASE-1" }, { metadata, timeoutMs: 5_000 });
for (let i = 0; i < 100; i++) await search(i % 2 ? withAudit.client : without.client); // warm-up
appendMs.length = 0;
for (let i = 0; i < 2 * N; i++) {
  const awaited = i % 2 === 0;
  const t0 = performance.now();
  await search(awaited ? withAudit.client : without.client);
  (awaited ? lat.awaited : lat.notAwaited).push(performance.now() - t0);
}
await new Promise((r) => setTimeout(r, 500));
const result = {
  setup: "3-node JetStream on loopback, TAJ_AUDIT R3; gRPC client -> gateway (OIDC token, authorize, handler) -> extractor double -> coordinator double (20 candidates)",
  searchMs_awaitedAppend: summary(lat.awaited),
  searchMs_appendNotAwaited: summary(lat.notAwaited),
  appendMs_allSearches: summary(appendMs),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
for (const g of [withAudit, without]) {
  g.client.close();
  await g.server.shutdown(500);
  await g.trail.close();
}
await log.close();
await extractor.server.shutdown(100);
await coordinator.server.shutdown(100);
await cluster.stop(1_000);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
