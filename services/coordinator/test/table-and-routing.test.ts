import { test } from "node:test";
import assert from "node:assert/strict";
import { assignmentKey, memberKey, PARTITION_COUNT_KEY } from "@taj/common";
import { applyEvent, emptyTable, tableFromKeys, uncoveredBySite, type ClusterTable } from "../src/cluster-table.ts";
import { planAvoiding, planRoute } from "../src/routing.ts";
import { UpstreamHealth } from "@taj/common";

const member = (address: string, partitions: number[]) => JSON.stringify({ address, partitions, startedAt: "2026-01-01T00:00:00Z" });

function table(count: number, members: Array<[site: string, shard: string, address: string, partitions: number[]]>): ClusterTable {
  return tableFromKeys([
    [PARTITION_COUNT_KEY, String(count)],
    ...members.map(([site, shard, address, partitions]) => [memberKey(site, shard), member(address, partitions)] as const),
  ]).table;
}

const routeOf = (plan: ReturnType<typeof planRoute>) =>
  Object.fromEntries([...plan.calls].map(([address, c]) => [address, c.partitions]));

test("table follows puts and deletes of count, assignments and members", () => {
  let t = emptyTable();
  assert.equal(t.partitionCount, 16);
  t = applyEvent(t, { type: "put", key: PARTITION_COUNT_KEY, value: "4" }).table;
  assert.equal(t.partitionCount, 4);
  t = applyEvent(t, { type: "put", key: assignmentKey("a", "s1"), value: '{"partitions":[0,1]}' }).table;
  t = applyEvent(t, { type: "put", key: memberKey("a", "s1"), value: member("h:1", [0, 1]) }).table;
  assert.deepEqual(t.assignments.get("a/s1")?.partitions, [0, 1]);
  assert.equal(t.members.get("a/s1")?.address, "h:1");
  const before = t;
  t = applyEvent(t, { type: "delete", key: memberKey("a", "s1") }).table;
  assert.equal(t.members.size, 0);
  assert.equal(before.members.size, 1, "earlier snapshots are never mutated");
  t = applyEvent(t, { type: "delete", key: PARTITION_COUNT_KEY }).table;
  assert.equal(t.partitionCount, 16);
});

test("malformed values are ignored and reported, keeping the previous state", () => {
  const t = table(4, [["a", "s1", "h:1", [0]]]);
  for (const [key, value] of [
    [PARTITION_COUNT_KEY, "zero"],
    [PARTITION_COUNT_KEY, "0"],
    [memberKey("a", "s1"), "{not json"],
    [memberKey("a", "s1"), '{"address":"h:1","partitions":[-1],"startedAt":"x"}'],
    [assignmentKey("a", "s1"), '{"partitions":"all"}'],
  ] as const) {
    const result = applyEvent(t, { type: "put", key, value });
    assert.ok(result.ignored, `${key}=${value} should be reported`);
    assert.equal(result.table, t);
  }
  assert.equal(applyEvent(t, { type: "put", key: "/taj/v1/other", value: "x" }).table, t);
});

test("routing prefers the local site and groups partitions per replica", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0, 1]],
    ["a", "s2", "a2:1", [2, 3]],
    ["b", "s1", "b1:1", [0, 1, 2, 3]],
  ]);
  assert.deepEqual(routeOf(planRoute(t, [0, 1, 2, 3], "a")), { "a1:1": [0, 1], "a2:1": [2, 3] });
  assert.deepEqual(routeOf(planRoute(t, [0, 1, 2, 3], "b")), { "b1:1": [0, 1, 2, 3] });
  assert.deepEqual(planRoute(t, [0, 1, 2, 3], "a").uncovered, []);
});

test("routing falls back to the other site for what the local site lacks or has lost", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0, 1]],
    ["b", "s1", "b1:1", [0, 1, 2, 3]],
  ]);
  assert.deepEqual(routeOf(planRoute(t, [0, 1, 2, 3], "a")), { "a1:1": [0, 1], "b1:1": [2, 3] });
  assert.deepEqual(routeOf(planRoute(t, [0, 1], "a", new Set(["a1:1"]))), { "b1:1": [0, 1] });
});

test("partitions with no usable replica are reported uncovered", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0, 1]],
    ["b", "s1", "b1:1", [0, 1]],
  ]);
  const plan = planRoute(t, [0, 1, 2, 3], "a", new Set(["b1:1"]));
  assert.deepEqual(routeOf(plan), { "a1:1": [0, 1] });
  assert.deepEqual(plan.uncovered, [2, 3]);
  assert.deepEqual(planRoute(t, [0, 1], "a", new Set(["a1:1", "b1:1"])).uncovered, [0, 1]);
});

test("routing picks the replica covering most wanted partitions among local ones", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0]],
    ["a", "s2", "a2:1", [0, 1, 2, 3]],
  ]);
  assert.deepEqual(routeOf(planRoute(t, [0, 1, 2, 3], "a")), { "a2:1": [0, 1, 2, 3] });
});

test("uncovered partitions per site", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0, 1]],
    ["a", "s2", "a2:1", [3]],
    ["b", "s1", "b1:1", [0, 1, 2, 3]],
  ]);
  assert.deepEqual(Object.fromEntries(uncoveredBySite(t)), { a: [2], b: [] });
});

test("recently failed replicas are avoided, but still used when nothing else serves a partition", () => {
  const t = table(4, [
    ["a", "s1", "a1:1", [0, 1]],
    ["a", "s2", "a2:1", [2, 3]],
    ["b", "s1", "b1:1", [0, 1, 2]],
  ]);
  const cooling = new Set(["a1:1", "a2:1"]);
  const plan = planAvoiding(t, [0, 1, 2, 3], "a", new Set(), cooling);
  assert.deepEqual(routeOf(plan), { "b1:1": [0, 1, 2], "a2:1": [3] });
  assert.deepEqual(plan.uncovered, []);
  const failedToo = planAvoiding(t, [0, 1, 2, 3], "a", new Set(["a2:1"]), cooling);
  assert.deepEqual(routeOf(failedToo), { "b1:1": [0, 1, 2] });
  assert.deepEqual(failedToo.uncovered, [3]);
});

test("replica health forgets a failure after the cooldown or a success", () => {
  let now = 1_000;
  const health = new UpstreamHealth(5_000, () => now);
  health.failed("x:1");
  health.failed("y:1");
  assert.deepEqual([...health.cooling()], ["x:1", "y:1"]);
  health.ok("y:1");
  assert.deepEqual([...health.cooling()], ["x:1"]);
  now += 5_000;
  assert.deepEqual([...health.cooling()], []);
});
