import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AppError, channelCredentials, createClient, createLogger, memberKey, partitionOf, PARTITION_COUNT_KEY, assignmentKey } from "@taj/common";
import { CoordinatorService, ErrorCode, Modality, SearchMode } from "@taj/proto";
import type { Lease } from "etcd3";
import { sharedTestPki, startTestEtcd, tlsEnvOf, type TestEtcd } from "@taj/devcluster";
import { TestShard, type StoredTemplate } from "./fixtures/test-shard.ts";
import { CoordinatorConfig } from "../src/config.ts";
import { startCoordinator, type Coordinator } from "../src/app.ts";

// Ports of this package's tests: 17300-17319.
const PARTITIONS = 4;
const DIM = 16;

/** Deterministic pseudo-random unit vectors, so a failure can be replayed. */
function vectors(count: number): StoredTemplate[] {
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  return Array.from({ length: count }, (_, i) => ({ id: `rec-${i}`, vector: Array.from({ length: DIM }, next) }));
}

const templates = vectors(400);
const inPartition = (p: number) => templates.find((t) => partitionOf(t.id, PARTITIONS) === p)!;

let etcd: TestEtcd;
let coordinator: Coordinator;
let client: ReturnType<typeof createClient<typeof CoordinatorService.method>>;
const shards = {
  a1: new TestShard("a", "s1", [0, 1], templates, PARTITIONS),
  a2: new TestShard("a", "s2", [2, 3], templates, PARTITIONS),
  b1: new TestShard("b", "s1", [0, 1, 2, 3], templates, PARTITIONS),
};
const leases = new Map<TestShard, Lease>();

async function register(shard: TestShard): Promise<void> {
  const lease = etcd.client.lease(30);
  leases.set(shard, lease);
  await etcd.client.put(assignmentKey(shard.site, shard.shardId)).value(JSON.stringify({ partitions: shard.partitions }));
  await lease
    .put(memberKey(shard.site, shard.shardId))
    .value(JSON.stringify({ address: shard.address, partitions: shard.partitions, startedAt: new Date().toISOString() }));
}

/** Waits for the coordinator's watch to reflect a change; gives up after many polls, never asserts on time. */
async function until(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (condition()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`coordinator never saw: ${what}`);
}

const search = (probe: StoredTemplate, allowPartial = false, maxCandidates = 5) =>
  client.coordinatedSearch(
    { modality: Modality.FACE, template: probe.vector, similarityThreshold: -1, maxCandidates, mode: SearchMode.EXHAUSTIVE, allowPartial },
    { timeoutMs: 5_000 },
  );

const resetCalls = () => Object.values(shards).forEach((s) => (s.calls = 0));

before(async () => {
  etcd = await startTestEtcd(17300, 17301);
  await etcd.client.put(PARTITION_COUNT_KEY).value(String(PARTITIONS));
  for (const shard of Object.values(shards)) {
    await shard.start();
    await register(shard);
  }
  const config = CoordinatorConfig.parse({ ...tlsEnvOf(sharedTestPki().issue("coordinator", "coordinator-under-test")), SITE: "a", GRPC_PORT: "0", ETCD_ENDPOINTS: etcd.endpoint, SHARD_CALL_TIMEOUT_MS: "1000" });
  coordinator = await startCoordinator(config, createLogger("coordinator", "silent"));
  client = createClient(CoordinatorService, `127.0.0.1:${coordinator.port}`, channelCredentials(sharedTestPki().issue("gateway", "gateway-test-caller")));
  await until("three members", () => coordinator.view.table.members.size === 3);
});

after(async () => {
  client?.close();
  await coordinator?.close();
  for (const shard of Object.values(shards)) shard.kill();
  // A lease keeps renewing itself (and the process alive) until released.
  for (const lease of leases.values()) lease.release();
  await etcd?.stop();
});

test("with every replica up, the local site answers every partition", async () => {
  resetCalls();
  for (let p = 0; p < PARTITIONS; p++) {
    const probe = inPartition(p);
    const answer = await search(probe);
    assert.equal(answer.candidates[0]?.id, probe.id);
    assert.ok(answer.candidates[0]!.similarity > 0.999);
    assert.deepEqual(answer.candidates.map((c) => c.rank), [1, 2, 3, 4, 5]);
    assert.deepEqual(answer.unsearchedPartitions, []);
    assert.equal(answer.partitionCount, PARTITIONS);
  }
  assert.equal(shards.a1.calls, PARTITIONS);
  assert.equal(shards.a2.calls, PARTITIONS);
  assert.equal(shards.b1.calls, 0, "the other site is not called while the local one serves");
});

test("a search without a mode is refused: the gateway resolves the default, the coordinator applies none", async () => {
  const probe = inPartition(0);
  await assert.rejects(
    client.coordinatedSearch({ modality: Modality.FACE, template: probe.vector, similarityThreshold: -1, maxCandidates: 5 }, { timeoutMs: 5_000 }),
    (err: unknown) => err instanceof AppError && err.code === ErrorCode.INVALID_ARGUMENT && /mode must be APPROXIMATE or EXHAUSTIVE/.test(err.message),
  );
});

test("the merged list is the true global top-k over all partitions", async () => {
  const probe = inPartition(0);
  const answer = await search(probe, false, 20);
  const expected = templates
    .map((t) => ({ id: t.id, s: dot(t.vector, probe.vector) / Math.sqrt(dot(t.vector, t.vector) * dot(probe.vector, probe.vector)) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, 20)
    .map((x) => x.id);
  assert.deepEqual(answer.candidates.map((c) => c.id), expected);
});

test("ClusterStatus lists every shard with its status and no uncovered partition", async () => {
  const status = await client.clusterStatus({}, { timeoutMs: 5_000 });
  assert.equal(status.partitionCount, PARTITIONS);
  assert.deepEqual(status.shards.map((s) => `${s.site}/${s.shardId}:${s.alive}:${s.status?.shardId ?? "-"}`), [
    "a/s1:true:s1", "a/s2:true:s2", "b/s1:true:s1",
  ]);
  assert.deepEqual(status.uncoveredBySite["a"]?.partitions, []);
  assert.deepEqual(status.uncoveredBySite["b"]?.partitions, []);
});

test("a crashed local replica is replaced by the other site within the same search", async () => {
  shards.a1.kill(); // its etcd key stays until its lease expires: the coordinator must find out by calling it
  resetCalls();
  const probe = inPartition(1);
  const answer = await search(probe);
  assert.equal(answer.candidates[0]?.id, probe.id);
  assert.deepEqual(answer.unsearchedPartitions, []);
  assert.equal(shards.b1.calls, 1);
  assert.equal(shards.a2.calls, 1);

  const status = await client.clusterStatus({}, { timeoutMs: 5_000 });
  const a1 = status.shards.find((s) => s.site === "a" && s.shardId === "s1");
  assert.equal(a1?.alive, true);
  assert.equal(a1?.status, undefined, "a shard that does not answer has no status");
});

test("when both replicas of a partition are down the search fails, or says what it left out", async () => {
  shards.b1.kill();
  const probe = inPartition(2);
  await assert.rejects(search(probe), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, ErrorCode.UNAVAILABLE);
    assert.match(err.message, /partitions 0,1 could not be searched/);
    return true;
  });
  const partial = await search(probe, true);
  assert.deepEqual(partial.unsearchedPartitions, [0, 1]);
  assert.equal(partial.candidates[0]?.id, probe.id);
  for (const c of partial.candidates) assert.ok([2, 3].includes(partitionOf(c.id, PARTITIONS)));
});

test("the watch sees members leave when their leases end", async () => {
  await leases.get(shards.a1)!.revoke();
  await leases.get(shards.b1)!.revoke();
  await until("a/s1 and b/s1 gone", () => coordinator.view.table.members.size === 1);
  const status = await client.clusterStatus({}, { timeoutMs: 5_000 });
  assert.deepEqual(status.uncoveredBySite["a"]?.partitions, [0, 1]);
  assert.deepEqual(status.uncoveredBySite["b"]?.partitions, [0, 1, 2, 3]);
  assert.equal(status.shards.find((s) => s.site === "b")?.alive, false);
  resetCalls();
  const partial = await search(inPartition(3), true);
  assert.deepEqual(partial.unsearchedPartitions, [0, 1]);
  assert.equal(shards.a1.calls + shards.b1.calls, 0, "dead members are no longer called");
});

test("searches go on with the last known table when etcd is gone", async () => {
  await etcd.stop();
  const probe = inPartition(3);
  const partial = await search(probe, true);
  assert.equal(partial.candidates[0]?.id, probe.id);
  assert.deepEqual(partial.unsearchedPartitions, [0, 1]);
});

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i]!, 0);
}
