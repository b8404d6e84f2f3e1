import { test } from "node:test";
import assert from "node:assert/strict";
import { checkPlan, planBalanced, shardsAfter, shardsForCount, PlanError, type Plan } from "../src/plan.ts";

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
const counts = (plan: Plan) => [...plan.target.values()].map((ps) => ps.length);

/** Applying the moves to the current assignment must give exactly the target. */
function applyMoves(current: Map<string, number[]>, plan: Plan): Map<string, number[]> {
  const result = new Map([...current].map(([s, ps]) => [s, [...ps]]));
  for (const m of plan.moves) {
    result.set(m.to, [...new Set([...(result.get(m.to) ?? []), m.partition])]);
    for (const s of m.from) result.set(s, (result.get(s) ?? []).filter((p) => p !== m.partition));
  }
  for (const s of plan.retired) {
    assert.deepEqual(result.get(s) ?? [], [], `retired ${s} keeps nothing`);
    result.delete(s);
  }
  for (const [s, ps] of result) result.set(s, ps.sort((a, b) => a - b));
  return nonEmpty(result);
}

const nonEmpty = (m: ReadonlyMap<string, number[]>) => new Map([...m].filter(([, ps]) => ps.length > 0));

test("scale out 2 -> 4 moves half the partitions, each from its old holder, and balances 4/4/4/4", () => {
  const current = new Map([["a1", range(0, 8)], ["a2", range(8, 16)]]);
  const plan = planBalanced("a", 16, current, ["a1", "a2", "a3", "a4"]);
  checkPlan(plan, 16);
  assert.deepEqual(counts(plan), [4, 4, 4, 4]);
  assert.equal(plan.moves.length, 8);
  for (const m of plan.moves) {
    assert.ok(m.to === "a3" || m.to === "a4");
    assert.deepEqual(m.from, [m.partition < 8 ? "a1" : "a2"]);
  }
  assert.deepEqual(plan.retired, []);
  assert.deepEqual(applyMoves(current, plan), nonEmpty(plan.target));
});

test("scale in 4 -> 2 retires the removed shards and moves only their partitions", () => {
  const current = new Map([["a1", range(0, 4)], ["a2", range(4, 8)], ["a3", range(8, 12)], ["a4", range(12, 16)]]);
  const plan = planBalanced("a", 16, current, shardsAfter([...current.keys()], { remove: ["a3", "a4"] }));
  checkPlan(plan, 16);
  assert.deepEqual(counts(plan), [8, 8]);
  assert.equal(plan.moves.length, 8);
  assert.ok(plan.moves.every((m) => m.from[0] === "a3" || m.from[0] === "a4"));
  assert.deepEqual(plan.retired, ["a3", "a4"]);
  assert.deepEqual(applyMoves(current, plan), nonEmpty(plan.target));
});

test("an already balanced site needs no move; uneven counts differ by one at most", () => {
  const current = new Map([["a1", range(0, 6)], ["a2", range(6, 11)], ["a3", range(11, 16)]]);
  const plan = planBalanced("a", 16, current, ["a1", "a2", "a3"]);
  assert.deepEqual(plan.moves, []);
  const skewed = planBalanced("a", 16, new Map([["a1", range(0, 14)], ["a2", [14]], ["a3", [15]]]), ["a1", "a2", "a3"]);
  checkPlan(skewed, 16);
  assert.deepEqual(counts(skewed).sort(), [5, 5, 6]);
  assert.equal(skewed.moves.length, 8, "only a1's surplus moves");
});

test("drain moves every partition of the drained shard to the others and retires it", () => {
  const current = new Map([["a1", range(0, 6)], ["a2", range(6, 11)], ["a3", range(11, 16)]]);
  const plan = planBalanced("a", 16, current, shardsAfter([...current.keys()], { remove: ["a2"] }));
  checkPlan(plan, 16);
  assert.deepEqual(plan.moves.map((m) => m.partition), range(6, 11));
  assert.ok(plan.moves.every((m) => m.from.join() === "a2" && m.to !== "a2"));
  assert.deepEqual(plan.retired, ["a2"]);
  assert.deepEqual(counts(plan).sort(), [8, 8]);
});

test("unassigned partitions get a home; doubly assigned ones (an interrupted move) keep one holder", () => {
  const current = new Map([["a1", [0, 1, 2, 3, 4]], ["a2", [4, 5, 6]]]);
  const plan = planBalanced("a", 10, current, ["a1", "a2"]);
  checkPlan(plan, 10);
  assert.deepEqual(counts(plan), [5, 5]);
  const four = plan.moves.filter((m) => m.partition === 4);
  assert.equal(four.length, 1);
  assert.deepEqual(four[0]!.from.length, 1, "the other holder lets go");
  for (const p of [7, 8, 9]) assert.deepEqual(plan.moves.find((m) => m.partition === p)?.from, []);
  assert.deepEqual(applyMoves(current, plan), nonEmpty(plan.target));
});

test("every random layout ends balanced with each partition exactly once and the fewest moves", () => {
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let round = 0; round < 300; round++) {
    const count = 1 + rand(40);
    const before = 1 + rand(6);
    const ids = Array.from({ length: before }, (_, i) => `a${i + 1}`);
    const current = new Map(ids.map((s) => [s, [] as number[]]));
    for (let p = 0; p < count; p++) if (rand(10) > 0) current.get(ids[rand(before)]!)!.push(p);
    const after = shardsAfter(ids, { exactly: Array.from({ length: 1 + rand(6) }, (_, i) => `a${i + 1}`) });
    const plan = planBalanced("a", count, current, after);
    checkPlan(plan, count);
    const c = counts(plan);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1, `balanced: ${c.join(",")}`);
    assert.deepEqual(applyMoves(current, plan), nonEmpty(plan.target));
    // Fewest moves: partitions with no staying holder, plus each staying shard's surplus over its
    // quota when the larger quotas go to the shards holding most (no partition is assigned twice here).
    const orphans = Array.from({ length: count }, (_, p) => p).filter((p) => !after.some((s) => current.get(s)?.includes(p))).length;
    const held = after.map((s) => current.get(s)?.length ?? 0).sort((a, b) => b - a);
    const floor = Math.floor(count / after.length);
    const surplus = held.reduce((n, h, i) => n + Math.max(0, h - (floor + (i < count % after.length ? 1 : 0))), 0);
    assert.equal(plan.moves.length, orphans + surplus);
  }
});

test("shard counts: growing needs live unassigned shards, shrinking drops the highest ids", () => {
  assert.deepEqual(shardsForCount(["a2", "a1"], ["a3", "a4", "a10"], 4), ["a1", "a2", "a3", "a4"]);
  assert.deepEqual(shardsForCount(["a1", "a2", "a3", "a10"], [], 2), ["a1", "a2"]);
  assert.throws(() => shardsForCount(["a1", "a2"], ["a3"], 4), /start them first/);
  assert.throws(() => planBalanced("a", 16, new Map(), []), PlanError);
  assert.throws(() => shardsAfter(["a1"], { remove: ["a9"] }), /not assigned/);
});
