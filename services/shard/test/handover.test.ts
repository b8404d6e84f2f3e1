import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "@taj/common";
import { Handover } from "../src/handover.ts";

const logger = createLogger("test", "silent");

/** A replica reduced to what the hand-over sees: owned partitions, a journal, a grace period released by hand. */
function replica(initial: number[], graceMs = 100) {
  let owned = [...initial];
  const journal: string[] = [];
  const graces: (() => void)[] = [];
  const handover = new Handover(initial, {
    graceMs, logger,
    owned: () => owned,
    withdraw: async (going) => void journal.push(`withdraw ${going.join(",")}`),
    apply: async (partitions) => {
      journal.push(`apply ${partitions.join(",")}`);
      owned = [...partitions];
    },
    wait: (ms) => {
      journal.push(`grace ${ms}`);
      return new Promise<void>((resolve) => graces.push(resolve));
    },
  });
  const releaseGrace = async () => {
    while (graces.length === 0) await new Promise((r) => setImmediate(r));
    graces.shift()!();
  };
  return { handover, journal, releaseGrace, owned: () => owned };
}

test("handover: a removed partition is withdrawn, served through the grace, then dropped; an addition needs no grace", async () => {
  const r = replica([0, 1, 2]);
  r.handover.change([0, 1, 2, 3]);
  await r.handover.settled();
  assert.deepEqual(r.journal, ["apply 0,1,2,3"]);

  r.handover.change([1, 2, 3]);
  for (let i = 0; i < 5; i++) await new Promise((res) => setImmediate(res));
  assert.deepEqual(r.owned(), [0, 1, 2, 3], "still owned (and served) during the grace");
  assert.deepEqual(r.journal.slice(1), ["withdraw 0", "grace 100"]);
  await r.releaseGrace();
  await r.handover.settled();
  assert.deepEqual(r.journal.slice(1), ["withdraw 0", "grace 100", "apply 1,2,3"]);
});

test("handover: changes arriving during a grace are applied one at a time, to the latest assignment", async () => {
  const r = replica([0, 1]);
  r.handover.change([1]);
  r.handover.change([1, 5]);
  r.handover.change([5]);
  await r.releaseGrace();
  // The first step already sees the latest assignment ([5]); the next ones find nothing to withdraw.
  await r.handover.settled();
  assert.deepEqual(r.journal, ["withdraw 0,1", "grace 100", "apply 5", "apply 5", "apply 5"]);
  assert.deepEqual(r.owned(), [5]);
});

test("handover: without a grace period a removal is applied at once", async () => {
  const r = replica([0, 1], 0);
  r.handover.change([1]);
  await r.handover.settled();
  assert.deepEqual(r.journal, ["apply 1"]);
});

test("handover: stopped during the grace, nothing is dropped; a failing change is logged and the next one still runs", async () => {
  const r = replica([0, 1]);
  r.handover.change([1]);
  while (!r.journal.includes("grace 100")) await new Promise((res) => setImmediate(res));
  r.handover.stop();
  await r.releaseGrace();
  await r.handover.settled();
  assert.deepEqual(r.journal, ["withdraw 0", "grace 100"], "shutdown: the partition stays until the process ends");

  let calls = 0;
  const failing = new Handover([0], {
    graceMs: 0, logger, owned: () => [0], withdraw: async () => {},
    apply: async () => {
      if (++calls === 1) throw new Error("NATS away");
    },
  });
  failing.change([0, 1]);
  failing.change([0, 1]);
  await failing.settled();
  assert.equal(calls, 2);
});
