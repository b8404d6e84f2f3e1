// The streams have one owner, the cluster bootstrap (bootstrapStreams: devcluster, `tajctl init`):
// it creates them and moves an older one to the required settings. The gateway only verifies them
// and stays NOT_SERVING, saying which setting differs, until they match.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RetentionPolicy, StorageType } from "nats";
import {
  AUDIT_STREAM, PARTITION_COUNT_KEY, TEMPLATE_MSGS_PER_SUBJECT, TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, bootstrapStreams, channelCredentials,
  checkStream, clusterStreams, createLogger, templateStreamSpec,
} from "@taj/common";
import { LocalIssuer, checkHealth, sharedTestPki, startTestEtcd, tlsEnvOf, waitFor } from "@taj/devcluster";
import { startNats } from "./fixtures/nats.ts";
import { startTestCoordinator, startTestExtractor } from "./fixtures/upstream-doubles.ts";
import { GatewayConfig } from "../src/config.ts";
import { startGateway } from "../src/app.ts";

// Ports 19620-19623 (this file only).

test("bootstrap: creates both streams as specified, moves an older template log to the limit, a second run changes nothing", async () => {
  await using nats = await startNats(19620, { bootstrap: false });
  const jsm = await nats.nc.jetstreamManager();
  // A template log of an earlier version: one message per subject.
  await jsm.streams.add({
    name: TEMPLATE_STREAM, subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`], retention: RetentionPolicy.Limits,
    storage: StorageType.File, max_msgs_per_subject: 1, num_replicas: 1, duplicate_window: 120_000_000_000,
  });
  await nats.nc.jetstream().publish(`${TEMPLATE_SUBJECT_ROOT}.face.0.kept`, new Uint8Array([1]));
  assert.deepEqual((await checkStream(jsm, templateStreamSpec({ replicas: 1 }))).ok, false);

  const first = await bootstrapStreams(jsm, clusterStreams({ replicas: 1 }));
  assert.deepEqual(first.map((r) => [r.stream, r.action]), [[TEMPLATE_STREAM, "updated"], [AUDIT_STREAM, "created"]]);
  assert.match(first[0]!.changes.join(), /max_msgs_per_subject is 1, expected 2/);
  const template = await jsm.streams.info(TEMPLATE_STREAM);
  assert.equal(template.config.max_msgs_per_subject, TEMPLATE_MSGS_PER_SUBJECT);
  assert.equal(template.state.messages, 1, "messages kept");
  const audit = await jsm.streams.info(AUDIT_STREAM);
  assert.equal(audit.config.max_age, 400 * 86_400 * 1e9, "the audit trail's default retention");
  assert.equal(audit.config.max_msgs_per_subject, -1);

  const second = await bootstrapStreams(jsm, clusterStreams({ replicas: 1 }));
  assert.deepEqual(second.map((r) => r.action), ["unchanged", "unchanged"]);
});

test("bootstrap refuses a stream it cannot fix in place (memory storage) and says why", async () => {
  await using nats = await startNats(19620, { bootstrap: false });
  const jsm = await nats.nc.jetstreamManager();
  await jsm.streams.add({ name: TEMPLATE_STREAM, subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`], storage: StorageType.Memory });
  await assert.rejects(bootstrapStreams(jsm, clusterStreams({ replicas: 1 })), /TAJ_TEMPLATES: storage cannot be changed/);
});

test("a gateway started without the streams is NOT_SERVING and says why; a wrong stream keeps it so; after the bootstrap it serves", async () => {
  const dir = mkdtempSync(join(tmpdir(), "taj-gateway-streams-"));
  await using nats = await startNats(19620, { bootstrap: false });
  await using etcd = await startTestEtcd(19621, 19622);
  await etcd.client.put(PARTITION_COUNT_KEY).value("4");
  const extractor = await startTestExtractor();
  const coordinator = await startTestCoordinator();
  const issuer = await LocalIssuer.open(dir);
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger("gateway", "info", { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  const config = GatewayConfig.parse({
    ...tlsEnvOf(sharedTestPki().issue("gateway", "gateway-streams")),
    SITE: "a", GRPC_PORT: "0", NATS_URLS: nats.url, ETCD_ENDPOINTS: etcd.endpoint,
    EXTRACTOR_ADDRESSES: `127.0.0.1:${extractor.server.port}`, COORDINATOR_ADDRESSES: `127.0.0.1:${coordinator.server.port}`,
    STREAM_CHECK_INTERVAL_MS: "100",
    ...issuer.gatewayEnv(),
  });
  const gateway = await startGateway(config, logger);
  const health = () => checkHealth(`127.0.0.1:${gateway.port}`, channelCredentials(sharedTestPki().admin));
  const said = (pattern: RegExp) => lines.some((l) => l.level >= 50 && pattern.test(l.msg));
  try {
    assert.equal(await health(), "NOT_SERVING");
    assert.ok(said(/NOT_SERVING: stream TAJ_TEMPLATES does not exist \(run `tajctl init`\)/), JSON.stringify(lines.map((l) => l.msg)));
    assert.ok(said(/stream TAJ_AUDIT does not exist/));

    // Made by hand with the wrong limit: still not serving, and the log names the setting.
    const jsm = await nats.nc.jetstreamManager();
    await jsm.streams.add({
      name: TEMPLATE_STREAM, subjects: [`${TEMPLATE_SUBJECT_ROOT}.>`], storage: StorageType.File, max_msgs_per_subject: 1, duplicate_window: 120_000_000_000,
    });
    await waitFor("the log names the differing setting", async () => (said(/TAJ_TEMPLATES: max_msgs_per_subject is 1, expected 2/) ? true : undefined), { timeoutMs: 10_000 });
    assert.equal(await health(), "NOT_SERVING");

    await bootstrapStreams(jsm, clusterStreams({ replicas: 1 }));
    await waitFor("SERVING after the bootstrap", async () => ((await health()) === "SERVING" ? true : undefined), { timeoutMs: 10_000 });
    assert.ok(lines.some((l) => l.msg === "streams verified"));

    // Changed under a running gateway: it stops serving again.
    await jsm.streams.update(TEMPLATE_STREAM, { num_replicas: 1, max_msgs_per_subject: 5 });
    await waitFor("NOT_SERVING after the stream changed", async () => ((await health()) === "NOT_SERVING" ? true : undefined), { timeoutMs: 10_000 });
  } finally {
    await gateway.close();
    await extractor.server.shutdown(100);
    await coordinator.server.shutdown(100);
    rmSync(dir, { recursive: true, force: true });
  }
});
