import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import { Admission } from "../src/admission.ts";

function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const never = new AbortController().signal;

test("at most maxInFlight run, maxQueued wait in order, the next is refused OVERLOADED with retry advice", async () => {
  const admission = new Admission({ maxInFlight: 2, maxQueued: 1 });
  const gates = [gate(), gate(), gate()];
  const started: number[] = [];
  const runs = gates.map((g, i) => admission.run(async () => { started.push(i); await g.promise; return i; }, Infinity, never));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  assert.equal(admission.inFlight, 2);
  assert.equal(admission.queued, 1);

  await assert.rejects(admission.run(async () => 9, Infinity, never), (err: unknown) => {
    const e = AppError.from(err);
    return e.code === ErrorCode.OVERLOADED && e.retryAfterMs > 0;
  });

  gates[1]!.open();
  assert.equal(await runs[1], 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1, 2], "the queued call takes the freed slot");
  gates[0]!.open();
  gates[2]!.open();
  assert.deepEqual(await Promise.all(runs), [0, 1, 2]);
  assert.equal(admission.inFlight, 0);
});

test("a queued call leaves the queue at its deadline or when cancelled, without taking a slot", async () => {
  const admission = new Admission({ maxInFlight: 1, maxQueued: 4 });
  const busy = gate();
  const running = admission.run(() => busy.promise, Infinity, never);
  const expired = admission.run(async () => "ran", Date.now() + 20, never);
  const controller = new AbortController();
  const cancelled = admission.run(async () => "ran", Infinity, controller.signal);
  controller.abort();
  await assert.rejects(cancelled, (err: unknown) => AppError.from(err).code === ErrorCode.DEADLINE_EXCEEDED);
  await assert.rejects(expired, (err: unknown) => AppError.from(err).code === ErrorCode.DEADLINE_EXCEEDED);
  assert.equal(admission.queued, 0);
  busy.open();
  await running;
  assert.equal(await admission.run(async () => "next", Infinity, never), "next");
  assert.equal(admission.inFlight, 0);
});

test("a failing extraction frees its slot", async () => {
  const admission = new Admission({ maxInFlight: 1, maxQueued: 0 });
  await assert.rejects(admission.run(async () => { throw new Error("boom"); }, Infinity, never), /boom/);
  assert.equal(await admission.run(async () => 1, Infinity, never), 1);
});
