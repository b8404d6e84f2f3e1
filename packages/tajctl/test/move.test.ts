import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestEtcd, type TestEtcd } from "@taj/devcluster";
import { ASSIGNMENT_PREFIX, MEMBER_PREFIX, PARTITION_COUNT_KEY, assignmentKey, memberKey, Assignment } from "@taj/common";
import type { Etcd3 } from "etcd3";
import { readLayout } from "../src/layout.ts";
import { acquireMoveLock, LockBusyError } from "../src/lock.ts";
import { runChange } from "../src/operations.ts";
import { PlanError } from "../src/plan.ts";

// Ports of the scaling helper's range (19500-19599).
let etcd: TestEtcd;
before(async () => {
  etcd = await startTestEtcd(19520, 19521);
});
after(async () => etcd.stop());

/**
 * Stands in for a shard process the way the real one behaves towards etcd: it lists a newly
 * assigned partition only after a load delay, and withdraws a removed one from its entry at once.
 * The real shard's behaviour is covered by services/shard/test/partition-move.test.ts.
 */
function fakeShard(client: Etcd3, site: string, id: string, loadMs: number) {
  let listed: number[] = [];
  let stopped = false;
  const loading = new Map<number, number>();
  const loop = (async () => {
    while (!stopped) {
      const raw = await client.get(assignmentKey(site, id)).string();
      const assigned = raw === null ? [] : Assignment.parse(JSON.parse(raw)).partitions;
      const now = Date.now();
      for (const p of assigned) if (!listed.includes(p) && !loading.has(p)) loading.set(p, now + loadMs);
      for (const p of loading.keys()) if (!assigned.includes(p)) loading.delete(p);
      const ready = [...loading].filter(([, at]) => at <= now).map(([p]) => p);
      for (const p of ready) loading.delete(p);
      const next = [...listed.filter((p) => assigned.includes(p)), ...ready].sort((a, b) => a - b);
      listed = next;
      await client.put(memberKey(site, id)).value(JSON.stringify({ address: `127.0.0.1:1${id.slice(1)}`, partitions: listed, startedAt: "t" }));
      await sleep(25);
    }
    await client.delete().key(memberKey(site, id));
  })();
  return { stop: async () => ((stopped = true), await loop) };
}

/** Samples every member entry of the site and records any partition no live member listed. */
function watchCoverage(client: Etcd3, site: string, partitionCount: number) {
  const gaps: string[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const members = await client.getAll().prefix(`${MEMBER_PREFIX}${site}/`).strings();
      const covered = new Set(Object.values(members).flatMap((v) => (JSON.parse(v) as { partitions: number[] }).partitions));
      for (let p = 0; p < partitionCount; p++) if (!covered.has(p)) gaps.push(`partition ${p} unlisted at ${Date.now()}`);
      await sleep(5);
    }
  })();
  return { gaps, stop: async () => ((stopped = true), await loop) };
}

test("scale out 2 -> 4, back to 2, drain and rebalance: every partition always listed by a live member", async () => {
  const client = etcd.client;
  await client.delete().prefix("/taj/");
  await client.put(PARTITION_COUNT_KEY).value("16");
  await client.put(assignmentKey("a", "a1")).value(JSON.stringify({ partitions: [0, 1, 2, 3, 4, 5, 6, 7] }));
  await client.put(assignmentKey("a", "a2")).value(JSON.stringify({ partitions: [8, 9, 10, 11, 12, 13, 14, 15] }));
  const shards = ["a1", "a2", "a3", "a4"].map((id) => fakeShard(client, "a", id, 150));
  await sleep(500);
  const coverage = watchCoverage(client, "a", 16);

  // A dry run plans and writes nothing.
  const dry = await runChange(client, "a", { kind: "scale", shards: 4 }, { dryRun: true });
  assert.equal(dry.plan.moves.length, 8);
  assert.deepEqual([...(await readLayout(client)).assignments.get("a")!.keys()].sort(), ["a1", "a2"]);

  const phases: string[] = [];
  const out = await runChange(client, "a", { kind: "scale", shards: 4 }, { pollMs: 20, onProgress: (p) => phases.push(`${p.move.partition}:${p.phase}`) });
  assert.equal(out.reports.length, 8);
  for (const r of out.reports) assert.ok(r.loadMs >= 100 && r.totalMs >= r.loadMs, `partition ${r.partition} waited for the load`);
  for (const p of out.reports.map((r) => r.partition)) {
    assert.deepEqual(phases.filter((x) => x.startsWith(`${p}:`)), [`${p}:loading`, `${p}:releasing`, `${p}:done`]);
  }
  let layout = await readLayout(client);
  assert.deepEqual([...layout.assignments.get("a")!.values()].map((ps) => ps.length), [4, 4, 4, 4]);

  await runChange(client, "a", { kind: "remove", shards: ["a3", "a4"] }, { pollMs: 20 });
  layout = await readLayout(client);
  assert.deepEqual([...layout.assignments.get("a")!.keys()].sort(), ["a1", "a2"], "retired shards lose their assignment key");
  assert.deepEqual([...layout.assignments.get("a")!.values()].flat().sort((x, y) => x - y), Array.from({ length: 16 }, (_, p) => p));

  await runChange(client, "a", { kind: "add", shards: ["a3"] }, { pollMs: 20 });
  await runChange(client, "a", { kind: "drain", shard: "a1" }, { pollMs: 20 });
  layout = await readLayout(client);
  assert.equal(layout.assignments.get("a")!.has("a1"), false);
  assert.deepEqual([...layout.assignments.get("a")!.values()].map((ps) => ps.length), [8, 8]);
  const again = await runChange(client, "a", { kind: "rebalance" }, { pollMs: 20 });
  assert.equal(again.plan.moves.length, 0, "balanced already");

  await coverage.stop();
  assert.deepEqual(coverage.gaps, []);
  await Promise.all(shards.map((s) => s.stop()));
  await client.delete().prefix(ASSIGNMENT_PREFIX);
});

test("a target that is not running is refused before anything is written; a second mover waits for the lock", async () => {
  const client = etcd.client;
  await client.delete().prefix("/taj/");
  await client.put(assignmentKey("b", "b1")).value(JSON.stringify({ partitions: [0, 1, 2, 3] }));
  await client.put(PARTITION_COUNT_KEY).value("4");
  const b1 = fakeShard(client, "b", "b1", 10);
  await assert.rejects(runChange(client, "b", { kind: "add", shards: ["b2"] }), PlanError);
  await assert.rejects(runChange(client, "b", { kind: "scale", shards: 2 }), /start them first/);

  const held = await acquireMoveLock(client, "test", { waitMs: 0 });
  await assert.rejects(runChange(client, "b", { kind: "rebalance" }, { lockWaitMs: 600 }), LockBusyError);
  const waiting = runChange(client, "b", { kind: "rebalance" }, { lockWaitMs: 10_000 });
  await sleep(700);
  await held.release();
  assert.equal((await waiting).plan.moves.length, 0);
  await b1.stop();
});
