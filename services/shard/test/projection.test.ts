// A shard process with a projection (real NATS and etcd): activating a version re-indexes the
// modality from the log while searches go on, then probes and templates are both projected;
// snapshots remember the version, and one of another version is not loaded.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect, type NatsConnection } from "nats";
import { Etcd3 } from "etcd3";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, Modality, SearchMode, ShardService, TemplateEventSchema } from "@taj/proto";
import {
  AppError, activateProjection, cosine, applyProjection, assignmentKey, createClient, deactivateProjection, encodeTemplateEvent, encodeTemplateF16, learnProjection,
  partitionOf, PARTITION_COUNT_KEY, projectionMessage, projectionOf, readProjection, saveProjection, templateSubject, type LinearProjection,
  type ServiceClient,
} from "@taj/common";
import { prng, tempDir } from "./helpers.ts";
import { admin, startEtcd, startNats, waitFor, exited, startShardProcess, type RunningShard } from "./servers.ts";

// Ports of the shard helper's range (17200-17299).
const NATS_PORT = 17240;
const ETCD_PORT = 17241;
const ETCD_PEER_PORT = 17242;
const GRPC_PORT = 17243;
const PARTITIONS = 2;
const SITE = "a";
const SHARD = "p1";
const DIMS = 48;
const MODEL = "tattoo-m1";

const cleanup: (() => void)[] = [];
after(() => cleanup.reverse().forEach((f) => f()));


function startShard(dataDir: string, natsUrl: string, etcdUrl: string): RunningShard {
  return startShardProcess({
    shardId: SHARD, site: SITE, grpcPort: GRPC_PORT, dataDir, natsUrl, etcdUrl, tlsName: "shard-projection",
    env: { SNAPSHOT_INTERVAL_MS: "3600000", LEASE_TTL_S: "2", RELEASE_GRACE_MS: "0" },
  }, cleanup);
}



test("activate: re-indexed from the log with searches served throughout; probes projected; snapshots keep the version", async () => {
  const nats = await startNats(NATS_PORT);
  cleanup.push(() => nats.dispose());
  const etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT);
  cleanup.push(() => etcdServer.dispose());
  const dataDir = tempDir("shard-projection-data-");
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const etcd = new Etcd3({ hosts: etcdServer.url, ...admin.etcd });
  cleanup.push(() => etcd.close());
  await etcd.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  await etcd.put(assignmentKey(SITE, SHARD)).value(JSON.stringify({ partitions: [0, 1] }));
  const nc: NatsConnection = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => void nc.close());
  const js = nc.jetstream();

  const rand = prng(77);
  const gaussian = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  // Tattoo-like: one large shared direction, so different ids sit at a high raw cosine.
  const common = Array.from({ length: DIMS }, gaussian);
  const templates = new Map<string, number[]>();
  let lastSeq = 0;
  // Records of both formats, as in a log older than template_f16: the re-index reads either.
  let enrolments = 0;
  const enroll = async (id: string, template: number[], modelId = MODEL) => {
    const values = enrolments++ % 2 === 0 ? { template } : { templateF16: encodeTemplateF16(template) };
    const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality: Modality.TATTOO, ...values, modelId } } });
    lastSeq = (await js.publish(templateSubject(Modality.TATTOO, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event))).seq;
    if (modelId === MODEL) templates.set(id, template);
  };
  const fresh = () => common.map((c) => c + 0.3 * gaussian());
  const photo = (t: number[]) => t.map((v) => v + 0.08 * gaussian());
  for (let i = 0; i < 600; i++) await enroll(`t-${i}`, fresh());
  // Same length, another model: kept in its own model's index (never compared with MODEL probes), left out once a projection of MODEL is in use.
  await enroll("other-model", fresh(), "tattoo-m0");

  let shard = startShard(dataDir, nats.url, etcdServer.url);
  const client: ServiceClient<typeof ShardService.method> = createClient(ShardService, `127.0.0.1:${GRPC_PORT}`, admin.grpc);
  cleanup.push(() => client.close());
  const caughtUp = () => waitFor("shard caught up", async () => {
    const s = await client.shardStatus({});
    return s.appliedSequence >= BigInt(lastSeq) && s.partitions.length === PARTITIONS ? s : undefined;
  });
  const held = async () => (await client.shardStatus({})).counts.reduce((n, c) => n + Number(c.templates), 0);
  // Hits come per partition (the coordinator merges): sorted here, best first.
  const search = async (template: ArrayLike<number>, k = 3) => {
    const r = await client.shardSearch({ modality: Modality.TATTOO, partitions: [0, 1], template: Array.from(template), k, mode: SearchMode.EXHAUSTIVE, modelId: MODEL });
    return { hits: [...r.hits].sort((a, b) => b.similarity - a.similarity) };
  };

  const status = await caughtUp();
  assert.deepEqual(status.projections, [], "no projection active: raw templates");
  assert.equal(await held(), 601);

  const id = "t-17";
  const probe = photo(templates.get(id)!);
  const other = templates.get("t-300")!;
  const raw = await search(probe, 600);
  assert.equal(raw.hits[0]?.id, id);
  const rawOther = raw.hits.find((h) => h.id === "t-300")!.similarity;
  assert.ok(Math.abs(rawOther - cosine(probe, other)) < 0.02, "raw: the index compares raw templates");

  // Learn on the log's templates (as tajctl does), store, activate.
  const map: LinearProjection = learnProjection([...templates.values()], 24);
  const version = await saveProjection(etcd, projectionMessage(map, { modality: Modality.TATTOO, modelId: MODEL, sampleSize: templates.size, createdBy: "test" }));
  const stored = projectionOf((await readProjection(etcd, Modality.TATTOO, version))!);
  const projectedCosine = (a: ArrayLike<number>, b: ArrayLike<number>) => cosine(applyProjection(stored, a), applyProjection(stored, b));
  assert.ok(Math.abs(projectedCosine(probe, other) - cosine(probe, other)) > 0.3, "the two spaces are told apart by the similarities");

  await activateProjection(etcd, Modality.TATTOO, version);
  // Searches go on while the shard re-indexes: every one answered, the right id first.
  let answered = 0;
  const during = await waitFor("projection in use", async () => {
    const r = await search(probe);
    assert.equal(r.hits[0]?.id, id);
    answered++;
    const s = await client.shardStatus({});
    return s.projections.length > 0 ? s : undefined;
  }, 600, 20);
  assert.ok(answered > 0);
  assert.deepEqual(during.projections.map((p) => [p.modality, p.version]), [[Modality.TATTOO, version]]);
  const reindexed = await waitFor("re-index logged", async () => shard.logs.find((l) => l.msg === "re-indexed with the new projection; now in use"));
  assert.equal(reindexed.templates, 600);
  assert.equal(await held(), 600, "the other model's template is not indexed under this projection");

  const projected = await search(probe, 600);
  assert.equal(projected.hits[0]?.id, id);
  const projectedOther = projected.hits.find((h) => h.id === "t-300")!.similarity;
  assert.ok(Math.abs(projectedOther - projectedCosine(probe, other)) < 0.03, `projected: ${projectedOther} vs ${projectedCosine(probe, other)}`);
  assert.ok(!projected.hits.some((h) => h.id === "other-model"));

  // New enrolments are projected by the feed too; a probe the projection cannot take is refused.
  const late = fresh();
  await enroll("late", late);
  await caughtUp();
  const lateHit = (await search(photo(late))).hits[0]!;
  assert.equal(lateHit.id, "late");
  assert.ok(Math.abs((await search(late)).hits[0]!.similarity - 1) < 0.01);
  await assert.rejects(search(probe.slice(0, 40)), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT && /48 values/.test(e.message));

  // Restart: the snapshot (written at the swap and at shutdown) holds this version, so it is loaded.
  shard.proc.kill("SIGTERM");
  assert.equal(await exited(shard.proc), 0);
  shard = startShard(dataDir, nats.url, etcdServer.url);
  const restarted = await caughtUp();
  assert.ok(shard.logs.some((l) => l.msg === "snapshot loaded"), "same version: snapshot loaded");
  assert.deepEqual(restarted.projections.map((p) => p.version), [version]);
  const again = await search(probe, 600);
  assert.ok(Math.abs(again.hits.find((h) => h.id === "t-300")!.similarity - projectedOther) < 1e-6);

  // Deactivated while the shard is down: its snapshot is of another version, so not loaded; raw from the log.
  shard.proc.kill("SIGTERM");
  assert.equal(await exited(shard.proc), 0);
  await deactivateProjection(etcd, Modality.TATTOO);
  shard = startShard(dataDir, nats.url, etcdServer.url);
  const rebuilt = await caughtUp();
  assert.ok(shard.logs.some((l) => l.msg === "snapshot unreadable: rebuilding from the log"), "other version: snapshot refused");
  assert.ok(!shard.logs.some((l) => l.msg === "snapshot loaded"));
  assert.deepEqual(rebuilt.projections, []);
  assert.equal(await held(), 602);
  const back = await search(probe, 600);
  assert.ok(Math.abs(back.hits.find((h) => h.id === "t-300")!.similarity - rawOther) < 1e-6, "raw again");

  // Activated live once more, then deactivated live: the shard follows both ways.
  await activateProjection(etcd, Modality.TATTOO, version);
  await waitFor("projection in use again", async () => ((await client.shardStatus({})).projections.length === 1 ? true : undefined));
  await deactivateProjection(etcd, Modality.TATTOO);
  await waitFor("raw again", async () => ((await client.shardStatus({})).projections.length === 0 ? true : undefined));
  assert.equal(await held(), 602);
  shard.proc.kill("SIGTERM");
  assert.equal(await exited(shard.proc), 0);
});
