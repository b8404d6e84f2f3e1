import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { connect, type JetStreamClient, type NatsConnection } from "nats";
import { Etcd3 } from "etcd3";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, Modality, SearchMode, ShardService, TemplateEventSchema } from "@taj/proto";
import {
  AppError, assignmentKey, createClient, encodeTemplateEvent, encodeTemplateF16, encodeTemplateF32, memberKey, partitionOf, PARTITION_COUNT_KEY,
  templateSubject, type ServiceClient,
} from "@taj/common";
import { prng, tempDir, unitVector } from "./helpers.ts";
import { admin, startEtcd, startNats, waitFor, type TestServer, exited, startShardProcess, type RunningShard } from "./servers.ts";

// Ports of the shard helper's range (17200-17299).
const NATS_PORT = 17201;
const ETCD_PORT = 17202;
const ETCD_PEER_PORT = 17203;
const GRPC_PORT = 17210;
const PARTITIONS = 4;
const SITE = "a";
const SHARD = "s1";


const cleanup: (() => void)[] = [];
after(() => cleanup.reverse().forEach((f) => f()));

function startShard(dataDir: string, nats: TestServer, etcd: TestServer): RunningShard {
  return startShardProcess({
    shardId: SHARD, site: SITE, grpcPort: GRPC_PORT, dataDir, natsUrl: nats.url, etcdUrl: etcd.url, tlsName: "shard-under-test",
    env: { SNAPSHOT_EVERY_N_EVENTS: "100", SNAPSHOT_INTERVAL_MS: "3600000", LEASE_TTL_S: "2" },
  }, cleanup);
}


test("shard process: feed, search, assignment changes, kill -9 + snapshot + tail replay, SIGTERM", async () => {
  const nats = await startNats(NATS_PORT);
  cleanup.push(() => nats.dispose());
  let etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT);
  cleanup.push(() => etcdServer.dispose());
  const dataDir = tempDir("shard-data-");
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));

  const etcd = new Etcd3({ hosts: etcdServer.url, ...admin.etcd });
  cleanup.push(() => etcd.close());
  await etcd.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  await etcd.put(assignmentKey(SITE, SHARD)).value(JSON.stringify({ partitions: [0, 1, 2] }));

  const nc: NatsConnection = await connect({ servers: nats.url, ...admin.nats });
  cleanup.push(() => void nc.close());
  const js: JetStreamClient = nc.jetstream();
  const rand = prng(2024);
  const model = new Map<string, Float32Array>();
  const deleted = new Set<string>();
  let lastSeq = 0;
  // The log mixes records of both formats (half precision now, float32 before it): every third one is old.
  let enrolments = 0;
  const enroll = async (id: string, vector: Float32Array) => {
    const template = enrolments++ % 3 === 0 ? { template: [...vector] } : { templateF16: encodeTemplateF16(vector) };
    const event = create(TemplateEventSchema, { event: { case: "enrolled", value: { id, modality: Modality.FACE, ...template } } });
    lastSeq = (await js.publish(templateSubject(Modality.FACE, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event))).seq;
    model.set(id, vector);
    deleted.delete(id);
  };
  const remove = async (id: string) => {
    const event = create(TemplateEventSchema, { event: { case: "deleted", value: { id, modality: Modality.FACE } } });
    lastSeq = (await js.publish(templateSubject(Modality.FACE, partitionOf(id, PARTITIONS), id), encodeTemplateEvent(event))).seq;
    model.delete(id);
    deleted.add(id);
  };

  // The stream is the bootstrap's (made by startNats); the shard is started first as before.
  let shard = startShard(dataDir, nats, etcdServer);
  const client: ServiceClient<typeof ShardService.method> = createClient(ShardService, `127.0.0.1:${GRPC_PORT}`, admin.grpc);
  cleanup.push(() => client.close());
  await waitFor("stream", async () => ((await (await nc.jetstreamManager()).streams.info("TAJ_TEMPLATES")) ? true : undefined));

  for (let i = 0; i < 400; i++) await enroll(`p-${i}`, unitVector(rand));
  const caughtUp = async (partitions: number[]) =>
    waitFor("shard caught up", async () => {
      const s = await client.shardStatus({});
      return s.appliedSequence >= BigInt(lastSeq) && partitions.every((p) => s.partitions.includes(p)) ? s : undefined;
    });
  await caughtUp([0, 1, 2]);

  const member = await waitFor("membership", async () => {
    const raw = await etcd.get(memberKey(SITE, SHARD)).string();
    return raw === null ? undefined : (JSON.parse(raw) as { address: string; partitions: number[] });
  });
  assert.equal(member.address, `127.0.0.1:${GRPC_PORT}`);
  assert.deepEqual(member.partitions, [0, 1, 2]);

  // Coordinators of both releases during a rolling upgrade: every fourth search sends the deprecated floats.
  let searches = 0;
  const search = (id: string, vector: Float32Array, mode: SearchMode, k = 5) =>
    client.shardSearch({
      modality: Modality.FACE, partitions: [partitionOf(id, PARTITIONS)], k, mode,
      ...(searches++ % 4 === 0 ? { template: [...vector] } : { templateF32: encodeTemplateF32(vector) }),
    });
  const owned = (id: string, parts: number[]) => parts.includes(partitionOf(id, PARTITIONS));

  const checkAll = async (parts: number[]) => {
    for (const [id, vector] of model) {
      if (!owned(id, parts)) continue;
      const r = await search(id, vector, SearchMode.EXHAUSTIVE, 1);
      assert.equal(r.hits[0]?.id, id, `${id} found at rank 1`);
      assert.ok(r.hits[0]!.similarity > 0.99);
    }
    const status = await client.shardStatus({});
    for (const p of parts) {
      const expected = [...model.keys()].filter((id) => partitionOf(id, PARTITIONS) === p).length;
      const got = status.counts.find((c) => c.partition === p)?.templates ?? 0n;
      assert.equal(got, BigInt(expected), `partition ${p} holds exactly the model's templates`);
    }
  };

  const inP0 = [...model.keys()].filter((id) => owned(id, [0]));
  const a = inP0[0]!;
  for (const mode of [SearchMode.APPROXIMATE, SearchMode.EXHAUSTIVE]) {
    const r = await search(a, model.get(a)!, mode);
    assert.equal(r.hits[0]?.id, a);
    assert.equal(r.hits[0]?.partition, 0);
    assert.ok(r.appliedSequence >= BigInt(lastSeq));
  }

  // Partition 3 is not assigned: UNAVAILABLE, so a coordinator tries another replica.
  const inP3 = [...model.keys()].find((id) => owned(id, [3]))!;
  await assert.rejects(search(inP3, model.get(inP3)!, SearchMode.EXHAUSTIVE), (e) => e instanceof AppError && e.code === ErrorCode.UNAVAILABLE);
  // No default mode here (the gateway resolves it): UNSPECIFIED is a bad request.
  await assert.rejects(search(a, model.get(a)!, SearchMode.UNSPECIFIED), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT);
  // Bad input: k out of range, wrong dimensions.
  await assert.rejects(search(a, model.get(a)!, SearchMode.EXHAUSTIVE, 0), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT);
  await assert.rejects(search(a, model.get(a)!.subarray(0, 100), SearchMode.EXHAUSTIVE), (e) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT);

  // Delete and replace.
  const gone = inP0[1]!;
  const replaced = inP0[2]!;
  const goneVector = model.get(gone)!;
  await remove(gone);
  await enroll(replaced, unitVector(rand));
  await caughtUp([0, 1, 2]);
  for (const mode of [SearchMode.APPROXIMATE, SearchMode.EXHAUSTIVE]) {
    const r = await search(gone, goneVector, mode);
    assert.ok(!r.hits.some((h) => h.id === gone), "deleted id not found");
    assert.equal((await search(replaced, model.get(replaced)!, mode)).hits[0]?.id, replaced);
  }
  const snapshotted = await waitFor("a snapshot", async () => {
    const s = await client.shardStatus({});
    return s.snapshotSequence > 0n ? s.snapshotSequence : undefined;
  });

  // A tail the snapshot does not hold (fewer events than SNAPSHOT_EVERY_N_EVENTS), then kill -9.
  for (let i = 0; i < 30; i++) await enroll(`t-${i}`, unitVector(rand));
  await remove(inP0[3]!);
  await caughtUp([0, 1, 2]);
  shard.proc.kill("SIGKILL");
  await exited(shard.proc);

  shard = startShard(dataDir, nats, etcdServer);
  const status = await caughtUp([0, 1, 2]);
  const loaded = shard.logs.find((l) => l.msg === "snapshot loaded");
  assert.ok(loaded, "restart loaded the snapshot");
  const snapSeq = Number(loaded.snapshotSequence);
  assert.ok(snapSeq >= Number(snapshotted) && snapSeq < lastSeq, `snapshot at ${snapSeq} holds less than the log (${lastSeq})`);
  const replay = shard.logs.find((l) => l.msg === "replaying log tail");
  assert.equal(replay?.startSequence, snapSeq + 1, "the consumer starts after the snapshot");
  const caught = shard.logs.find((l) => l.msg === "caught up with the log");
  const delivered = Number(caught?.delivered);
  assert.ok(delivered > 0 && delivered <= lastSeq - snapSeq, `replayed ${delivered} events: only the tail after ${snapSeq}`);
  assert.ok(status.snapshotSequence > 0n);
  await checkAll([0, 1, 2]);
  for (const id of deleted) {
    if (!owned(id, [0, 1, 2])) continue;
    const r = await client.shardSearch({ modality: Modality.FACE, partitions: [0, 1, 2], template: [...goneVector], k: 50, mode: SearchMode.EXHAUSTIVE });
    assert.ok(!r.hits.some((h) => h.id === id));
  }

  // Assignment grows: partition 3 is replayed from the log and becomes searchable; then 0 is dropped.
  await etcd.put(assignmentKey(SITE, SHARD)).value(JSON.stringify({ partitions: [1, 2, 3] }));
  await caughtUp([1, 2, 3]);
  await waitFor("partition 0 dropped", async () => ((await client.shardStatus({})).partitions.includes(0) ? undefined : true));
  await checkAll([1, 2, 3]);
  await assert.rejects(search(a, model.get(a)!, SearchMode.EXHAUSTIVE), (e) => e instanceof AppError && e.code === ErrorCode.UNAVAILABLE);
  await waitFor("membership updated", async () => {
    const raw = await etcd.get(memberKey(SITE, SHARD)).string();
    return raw !== null && (JSON.parse(raw) as { partitions: number[] }).partitions.join() === "1,2,3" ? true : undefined;
  });

  // etcd goes away longer than the lease TTL: the replica keeps serving, then re-registers.
  await etcdServer.kill();
  await waitFor("lease lost", async () => (shard.logs.some((l) => l.msg === "etcd lease lost; still serving, will re-register") ? true : undefined));
  const inP1 = [...model.keys()].find((id) => owned(id, [1]))!;
  assert.equal((await search(inP1, model.get(inP1)!, SearchMode.APPROXIMATE)).hits[0]?.id, inP1);
  etcdServer = await startEtcd(ETCD_PORT, ETCD_PEER_PORT, etcdServer.dir);
  await waitFor("re-registered", async () => {
    const raw = await etcd.get(memberKey(SITE, SHARD)).string();
    return raw !== null && (JSON.parse(raw) as { partitions: number[] }).partitions.join() === "1,2,3" ? true : undefined;
  });

  // SIGTERM: the member entry goes at once (lease revoked), the process exits cleanly.
  shard.proc.kill("SIGTERM");
  assert.equal(await exited(shard.proc), 0);
  assert.equal(await etcd.get(memberKey(SITE, SHARD)).string(), null);
});
