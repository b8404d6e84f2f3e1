import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import { Etcd3 } from "etcd3";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, Modality, SearchMode, ShardService, TemplateEventSchema } from "@taj/proto";
import {
  AppError, PARTITION_COUNT_KEY, assignmentKey, createClient, encodeTemplateEvent, partitionOf, templateSubject, type ServiceClient,
} from "@taj/common";
import { int8Cosine, quantize } from "../src/index/quantize.ts";
import { prng, tempDir, unitVector } from "./helpers.ts";
import { admin, startEtcd, startNats, waitFor, type TestServer, exited, startShardProcess, type RunningShard } from "./servers.ts";

// A shard process fed through a real log (NATS) and assigned through a real etcd: the body
// locations the TemplateEnrolled events carry filter its searches, after deletes and re-enrolments,
// and after a kill -9 and a restart from the snapshot (the located enrolments are not replayed,
// so only the snapshot can hold their locations).
// Ports of the shard helper's range (17200-17299).
const NATS_PORT = 17250;
const ETCD_PORT = 17251;
const ETCD_PEER_PORT = 17252;
const GRPC_PORT = 17253;
const PARTITIONS = 2;
const SITE = "a";
const SHARD = "s1";
const LOCATIONS = ["L ARM", "R ARM", "CHEST", ""];

const cleanup: (() => void)[] = [];
after(() => cleanup.reverse().forEach((f) => f()));

function startShard(dataDir: string, nats: TestServer, etcd: TestServer): RunningShard {
  return startShardProcess({
    shardId: SHARD, site: SITE, grpcPort: GRPC_PORT, dataDir, natsUrl: nats.url, etcdUrl: etcd.url, tlsName: "shard-under-test",
    // Snapshots only after a delete (quickly) and at shutdown: the test decides what they hold.
    env: { SNAPSHOT_EVERY_N_EVENTS: "100000", SNAPSHOT_INTERVAL_MS: "3600000", PURGE_SNAPSHOT_DELAY_MS: "200", LEASE_TTL_S: "2" },
  }, cleanup);
}


test("shard process: body_locations filter searches, through deletes, re-enrolments and a restart from the snapshot", async () => {
  const nats = await startNats(NATS_PORT);
  cleanup.push(() => nats.dispose());
  const etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT);
  cleanup.push(() => etcdServer.dispose());
  const dataDir = tempDir("shard-loc-data-");
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const etcd = new Etcd3({ hosts: etcdServer.url, ...admin.etcd });
  cleanup.push(() => etcd.close());
  await etcd.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  await etcd.put(assignmentKey(SITE, SHARD)).value(JSON.stringify({ partitions: [0, 1] }));
  const nc: NatsConnection = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => void nc.close());
  const js: JetStreamClient = nc.jetstream();

  const rand = prng(77);
  const model = new Map<string, { vector: Float32Array; location: string }>();
  let lastSeq = 0;
  const enroll = async (id: string, vector: Float32Array, bodyLocation: string) => {
    const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality: Modality.TATTOO, template: [...vector], bodyLocation } } });
    lastSeq = (await js.publish(templateSubject(Modality.TATTOO, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event))).seq;
    model.set(id, { vector, location: bodyLocation });
  };
  const remove = async (id: string) => {
    const event = create(TemplateEventSchema, { event: { case: "deleted", value: { id, modality: Modality.TATTOO } } });
    lastSeq = (await js.publish(templateSubject(Modality.TATTOO, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event))).seq;
    model.delete(id);
  };

  let shard = startShard(dataDir, nats, etcdServer);
  const client: ServiceClient<typeof ShardService.method> = createClient(ShardService, `127.0.0.1:${GRPC_PORT}`, admin.grpc);
  cleanup.push(() => client.close());
  const caughtUp = () =>
    waitFor("shard caught up", async () => {
      const s = await client.shardStatus({});
      return s.appliedSequence >= BigInt(lastSeq) && s.partitions.length === PARTITIONS ? s : undefined;
    });

  for (let i = 0; i < 120; i++) await enroll(`t-${i}`, unitVector(rand, 128), LOCATIONS[i % LOCATIONS.length]!);
  await caughtUp();

  const search = (vector: Float32Array, bodyLocations: string[], mode = SearchMode.APPROXIMATE, k = 200) =>
    client.shardSearch({ modality: Modality.TATTOO, partitions: [0, 1], template: [...vector], k, mode, bodyLocations });
  /** Every filtered answer is the model's: exactly the templates at those locations, nearest first. */
  const agrees = async (bodyLocations: string[]) => {
    const probe = unitVector(rand, 128);
    const r = await search(probe, bodyLocations, SearchMode.APPROXIMATE, 10);
    const q = quantize(probe);
    for (const p of [0, 1]) {
      const want = [...model]
        .filter(([id, m]) => partitionOf(id, PARTITIONS) === p && bodyLocations.includes(m.location))
        .map(([id, m]) => ({ id, similarity: int8Cosine(q, quantize(m.vector)) }))
        .sort((a, b) => b.similarity - a.similarity)
        .slice(0, 10);
      assert.deepEqual(r.hits.filter((h) => h.partition === p).map((h) => h.id), want.map((w) => w.id), `partition ${p}, ${bodyLocations.join("|")}`);
    }
  };
  const atLocation = async (location: string) => new Set((await search(unitVector(rand, 128), [location])).hits.map((h) => h.id));
  const modelAt = (location: string) => new Set([...model].filter(([, m]) => m.location === location).map(([id]) => id));

  assert.deepEqual(await atLocation("L ARM"), modelAt("L ARM"), "every L ARM template and nothing else, though the mode is APPROXIMATE");
  await agrees(["R ARM", "CHEST"]);
  const unfiltered = await search(model.get("t-3")!.vector, [], SearchMode.EXHAUSTIVE, 1);
  assert.ok(unfiltered.hits.some((h) => h.id === "t-3" && h.similarity > 0.99), "no filter: templates without a location are found");
  assert.deepEqual((await search(model.get("t-0")!.vector, ["BACK"])).hits, [], "no template at BACK");
  await assert.rejects(search(model.get("t-0")!.vector, ["NOT A CODE"]), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_BODY_LOCATION);

  // A delete (which also triggers the snapshot), a move to another location, a location cleared.
  await remove("t-0");
  await enroll("t-1", model.get("t-1")!.vector, "CHEST");
  await enroll("t-2", model.get("t-2")!.vector, "");
  await caughtUp();
  assert.ok(!(await atLocation("L ARM")).has("t-0"), "deleted: gone from the filter");
  assert.ok(!(await atLocation("R ARM")).has("t-1") && (await atLocation("CHEST")).has("t-1"), "re-enrolled at CHEST");
  assert.ok(!(await atLocation("CHEST")).has("t-2"), "re-enrolled without a location");
  for (const l of ["L ARM", "R ARM", "CHEST"]) assert.deepEqual(await atLocation(l), modelAt(l));
  const snapshotAt = await waitFor("the snapshot after the delete", async () => {
    const s = await client.shardStatus({});
    return s.snapshotSequence >= BigInt(lastSeq) ? s.snapshotSequence : undefined;
  });

  // A tail the snapshot does not hold, then kill -9: the restart loads the snapshot and replays the tail only.
  await enroll("t-new", unitVector(rand, 128), "L ARM");
  await enroll("t-5", model.get("t-5")!.vector, "L ARM");
  await caughtUp();
  shard.proc.kill("SIGKILL");
  await exited(shard.proc);
  shard = startShard(dataDir, nats, etcdServer);
  await caughtUp();
  const loaded = shard.logs.find((l) => l.msg === "snapshot loaded");
  assert.ok(loaded, "restart loaded the snapshot");
  assert.equal(BigInt(Number(loaded.snapshotSequence)), snapshotAt);
  const caught = shard.logs.find((l) => l.msg === "caught up with the log");
  assert.ok(Number(caught?.delivered) <= lastSeq - Number(snapshotAt), "only the tail was replayed: the other locations came from the snapshot");
  for (const l of ["L ARM", "R ARM", "CHEST"]) assert.deepEqual(await atLocation(l), modelAt(l), `${l} after the restart`);
  assert.ok((await atLocation("L ARM")).has("t-new") && !(await atLocation("R ARM")).has("t-5"));
  await agrees(["L ARM", "CHEST"]);

  shard.proc.kill("SIGTERM");
  await exited(shard.proc);
});
