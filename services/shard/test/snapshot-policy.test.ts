import { test } from "node:test";
import assert from "node:assert/strict";
import { createLogger } from "@taj/common";
import { SnapshotPolicy } from "../src/snapshot-policy.ts";
import { Serial } from "../src/serial.ts";

const logger = createLogger("test", "silent");

/** A policy whose snapshots are recorded by reason; `run` stands for the serial queue. */
function policy(options: { everyNEvents?: number; intervalMs?: number; purgeDelayMs?: number } = {}) {
  const written: string[] = [];
  const p = new SnapshotPolicy({
    everyNEvents: options.everyNEvents ?? 10, intervalMs: options.intervalMs ?? 60_000, purgeDelayMs: options.purgeDelayMs ?? 30_000, maxDutyPercent: 100,
    run: (task) => task(), logger,
    write: async (reason) => void written.push(reason),
  });
  return { p, written };
}

const flush = () => new Promise((r) => setImmediate(r));

test("snapshot policy: every N applied events, counted across batches and reset by any snapshot", async () => {
  const { p, written } = policy({ everyNEvents: 10 });
  await p.afterBatch({ applied: 6, removed: 0 });
  assert.deepEqual(written, []);
  await p.afterBatch({ applied: 4, removed: 0 });
  assert.deepEqual(written, ["events"]);
  await p.afterBatch({ applied: 7, removed: 0 });
  await p.take("projection");
  await p.afterBatch({ applied: 7, removed: 0 });
  assert.deepEqual(written, ["events", "projection"], "the count restarts after the projection's snapshot");
});

test("snapshot policy: unsnapshotted since the first change, current again after a snapshot", async (t) => {
  t.mock.timers.enable({ apis: ["Date"], now: 1_000 });
  const { p } = policy();
  assert.equal(p.unsnapshottedSinceMs(), undefined);
  await p.afterBatch({ applied: 0, removed: 0 });
  assert.equal(p.unsnapshottedSinceMs(), undefined, "a batch of skipped events changes nothing");
  await p.afterBatch({ applied: 1, removed: 0 });
  t.mock.timers.tick(500);
  await p.afterBatch({ applied: 1, removed: 0 });
  assert.equal(p.unsnapshottedSinceMs(), 1_000, "since the first change, not the latest");
  await p.take("shutdown");
  assert.equal(p.unsnapshottedSinceMs(), undefined);
});

test("snapshot policy: a delete brings a snapshot within the purge delay, not pushed back by later deletes", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  const { p, written } = policy({ purgeDelayMs: 1_000 });
  await p.afterBatch({ applied: 1, removed: 1 });
  t.mock.timers.tick(600);
  await p.afterBatch({ applied: 1, removed: 1 });
  p.purgeSoon();
  t.mock.timers.tick(399);
  await flush();
  assert.deepEqual(written, []);
  t.mock.timers.tick(1);
  await flush();
  assert.deepEqual(written, ["purge"], "1 000 ms after the first delete");
  t.mock.timers.tick(5_000);
  await flush();
  assert.deepEqual(written, ["purge"], "one snapshot for the deletes before it");
  p.purgeSoon();
  t.mock.timers.tick(1_000);
  await flush();
  assert.deepEqual(written, ["purge", "purge"], "a later delete arms it again");
});

test("snapshot policy: on the interval only when events were applied since the last; stop ends the timers", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  const { p, written } = policy({ intervalMs: 1_000, purgeDelayMs: 500 });
  p.start();
  t.mock.timers.tick(1_000);
  await flush();
  assert.deepEqual(written, [], "nothing applied: no snapshot");
  await p.afterBatch({ applied: 2, removed: 0 });
  t.mock.timers.tick(1_000);
  await flush();
  assert.deepEqual(written, ["interval"]);
  t.mock.timers.tick(1_000);
  await flush();
  assert.deepEqual(written, ["interval"]);
  await p.afterBatch({ applied: 2, removed: 1 });
  p.stop();
  t.mock.timers.tick(10_000);
  await flush();
  assert.deepEqual(written, ["interval"], "neither the interval nor the purge timer fires after stop");
});

test("snapshot policy: a failed write is logged and leaves the replica unsnapshotted", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
  let fail = true;
  const p = new SnapshotPolicy({
    everyNEvents: 100, intervalMs: 1_000, purgeDelayMs: 1_000, maxDutyPercent: 100, run: (task) => task(), logger,
    write: async () => {
      if (fail) throw new Error("disk full");
    },
  });
  await p.afterBatch({ applied: 1, removed: 1 });
  t.mock.timers.tick(1_000);
  await flush();
  assert.notEqual(p.unsnapshottedSinceMs(), undefined);
  fail = false;
  p.start();
  t.mock.timers.tick(1_000);
  await flush();
  assert.equal(p.unsnapshottedSinceMs(), undefined, "the interval retries since events are still unsnapshotted");
  p.stop();
});

test("snapshot policy: event and interval snapshots keep to the duty-cycle bound, purge snapshots do not wait", async (t) => {
  t.mock.timers.enable({ apis: ["Date", "setTimeout", "setInterval"], now: 0 });
  const written: string[] = [];
  const serial = new Serial();
  let nextWriteMs = 2_000;
  const p = new SnapshotPolicy({
    everyNEvents: 10, intervalMs: 1_000, purgeDelayMs: 500, maxDutyPercent: 10, run: (task) => serial.run(task), logger,
    // A write of 2 s: the clock jumps (Date only, through a pending timeout the test fires) while it runs.
    write: (reason) => {
      written.push(reason);
      const took = nextWriteMs;
      return new Promise<void>((resolve) => setTimeout(resolve, took));
    },
  });
  const write = async (step: () => Promise<void>) => {
    const done = step();
    await flush(); // the queue starts the write on a later tick
    t.mock.timers.tick(nextWriteMs);
    await done;
  };
  p.start();
  try {
    await write(() => serial.run(() => p.afterBatch({ applied: 10, removed: 0 })));
    assert.deepEqual(written, ["events"]);
    // The bound: 2 s of writing at 10 % means nothing before 18 s after it ended.
    await p.afterBatch({ applied: 30, removed: 0 });
    for (let s = 0; s < 17; s++) {
      t.mock.timers.tick(1_000);
      await flush();
    }
    assert.deepEqual(written, ["events"], "neither 30 events nor 17 interval ticks start one before 18 s after the last ended");
    nextWriteMs = 100;
    await p.afterBatch({ applied: 0, removed: 1 });
    await write(async () => {
      t.mock.timers.tick(500);
      await flush();
    });
    assert.deepEqual(written, ["events", "purge"], "a purge is not held back by the bound");
    // The purge write took 100 ms, so the bound is now 900 ms after it.
    await p.afterBatch({ applied: 10, removed: 0 });
    assert.deepEqual(written, ["events", "purge"]);
    t.mock.timers.tick(899);
    await flush();
    await p.afterBatch({ applied: 10, removed: 0 });
    assert.deepEqual(written, ["events", "purge"], "1 ms before the bound");
    t.mock.timers.tick(1);
    await write(() => serial.run(() => p.afterBatch({ applied: 10, removed: 0 })));
    assert.deepEqual(written, ["events", "purge", "events"], "at the bound");
  } finally {
    p.stop();
  }
});
