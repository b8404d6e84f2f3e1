import { test } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode } from "@taj/proto";
import { status } from "@grpc/grpc-js";
import { AppError, COORDINATORS, EXTRACTORS, UpstreamPool, toGrpcError } from "../src/index.ts";

// A unit test of the pool alone: its upstreams are fakes that answer as told and count calls.
class Fake {
  calls = 0;
  closed = false;
  constructor(readonly name: string, public answer: () => Promise<string> = async () => name) {}
  call(): Promise<string> {
    this.calls++;
    return this.answer();
  }
  close(): void {
    this.closed = true;
  }
}

const unreachable = () => Promise.reject(new AppError(ErrorCode.UNAVAILABLE, "connection refused"));
const failing = (code: ErrorCode) => () => Promise.reject(new AppError(code, "x"));
const slow = (ms: number, name: string) => () => new Promise<string>((r) => setTimeout(() => r(name), ms));
const caught = (p: Promise<unknown>) => p.then(() => assert.fail("expected a failure"), (err: unknown) => err as AppError);

test("idle upstreams of the first group share the calls in turn; the fallback group gets none", async () => {
  const [a, b, remote] = [new Fake("a"), new Fake("b"), new Fake("remote")];
  const pool = new UpstreamPool([[a, b], [remote]], { kind: EXTRACTORS, name: "extractor" });
  for (let i = 0; i < 10; i++) await pool.call((c) => c.call(), {});
  assert.deepEqual([a.calls, b.calls, remote.calls], [5, 5, 0]);
});

test("concurrent calls go to the least busy upstream", async () => {
  const a = new Fake("a", slow(50, "a"));
  const b = new Fake("b", slow(50, "b"));
  const pool = new UpstreamPool([[a, b]], { kind: EXTRACTORS, name: "extractor" });
  const first = pool.call((c) => c.call(), {});
  // Counted in flight as soon as the call is taken, before the upstream is called.
  assert.equal(pool.inFlight[0]!.reduce((x, y) => x + y), 1);
  const second = pool.call((c) => c.call(), {});
  assert.deepEqual(pool.inFlight, [[1, 1]], "the second call went to the idle one");
  assert.deepEqual((await Promise.all([first, second])).sort(), ["a", "b"]);
  assert.deepEqual(pool.inFlight, [[0, 0]]);
});

test("an unreachable upstream is skipped for the rest of its group, then the fallback group", async () => {
  const a = new Fake("a", unreachable);
  const b = new Fake("b", unreachable);
  const remote = new Fake("remote");
  const pool = new UpstreamPool([[a, b], [remote]], { kind: EXTRACTORS, name: "extractor" });
  assert.equal(await pool.call((c) => c.call(), {}), "remote");
  assert.deepEqual([a.calls, b.calls, remote.calls], [1, 1, 1], "each tried once");
  remote.answer = unreachable;
  const err = await caught(pool.call((c) => c.call(), {}));
  assert.equal(err.code, ErrorCode.UNAVAILABLE, "the last failure when every upstream failed");
});

test("a failure the policy does not pass on ends the call at once", async () => {
  const a = new Fake("a", failing(ErrorCode.NO_FACE));
  const b = new Fake("b");
  const pool = new UpstreamPool([[a], [b]], { kind: EXTRACTORS, name: "extractor" });
  assert.equal((await caught(pool.call((c) => c.call(), {}))).code, ErrorCode.NO_FACE);
  assert.equal(b.calls, 0);
});

test("coordinators: one that answers UNAVAILABLE on purpose is not passed over; an unreachable one is", async () => {
  const local = new Fake("local", failing(ErrorCode.UNAVAILABLE));
  const remote = new Fake("remote");
  // A locally made AppError has no cause: for the pool it is "no answer came back".
  const pool = new UpstreamPool([[local], [remote]], { kind: COORDINATORS, name: "coordinator" });
  assert.equal(await pool.call((c) => c.call(), {}), "remote");
  // What a coordinator's deliberate UNAVAILABLE looks like on the wire: status 14 with the TAJ detail.
  const { metadata } = toGrpcError(new AppError(ErrorCode.UNAVAILABLE, "partitions 3 could not be searched"));
  const refused = Object.assign(new Error("x"), { code: status.UNAVAILABLE, details: "x", metadata });
  local.answer = () => Promise.reject(refused);
  const err = await caught(pool.call((c) => c.call(), {}));
  assert.equal(err.message, "partitions 3 could not be searched");
  assert.equal(remote.calls, 1, "the remote coordinator was not asked again");
});

test("back-pressure: bounded queue, OVERLOADED with advice beyond it, DEADLINE_EXCEEDED for a waiter whose deadline passes", async () => {
  const a = new Fake("a", slow(100, "a"));
  const pool = new UpstreamPool([[a]], { kind: EXTRACTORS, name: "extractor", limits: { maxInFlight: 1, maxQueued: 1 } });
  const running = pool.call((c) => c.call(), {});
  const waiting = pool.call((c) => c.call(), { timeoutMs: 5_000 });
  assert.equal(pool.queued, 1);
  const refused = await caught(pool.call((c) => c.call(), {}));
  assert.equal(refused.code, ErrorCode.OVERLOADED);
  assert.ok(refused.retryAfterMs >= 10);
  assert.equal(refused.message, "every extractor is busy; retry later");
  assert.deepEqual(await Promise.all([running, waiting]), ["a", "a"]);

  const busy = pool.call((c) => c.call(), {});
  const impatient = await caught(pool.call((c) => c.call(), { timeoutMs: 20 }));
  assert.equal(impatient.code, ErrorCode.DEADLINE_EXCEEDED);
  assert.equal(pool.queued, 0);
  const controller = new AbortController();
  const cancelled = caught(pool.call((c) => c.call(), { signal: controller.signal }));
  controller.abort();
  assert.equal((await cancelled).code, ErrorCode.DEADLINE_EXCEEDED);
  await busy;
  assert.equal(a.calls, 3, "neither waiter reached the upstream");
});

test("no upstream at all is UNAVAILABLE; close closes every client", async () => {
  assert.equal((await caught(new UpstreamPool<Fake>([[], []], { kind: EXTRACTORS, name: "extractor" }).call((c) => c.call(), {}))).code, ErrorCode.UNAVAILABLE);
  const fakes = [new Fake("a"), new Fake("b"), new Fake("c")];
  new UpstreamPool([[fakes[0]!, fakes[1]!], [fakes[2]!]], { kind: EXTRACTORS, name: "extractor" }).close();
  assert.deepEqual(fakes.map((f) => f.closed), [true, true, true]);
});

test("with a cooldown, an upstream that just failed is put last in its group until it passes; never dropped", async () => {
  const a = new Fake("a", unreachable);
  const b = new Fake("b");
  const pool = new UpstreamPool([[a, b]], { kind: EXTRACTORS, name: "extractor", cooldownMs: 200 });
  for (let i = 0; i < 6; i++) assert.equal(await pool.call((c) => c.call(), {}), "b");
  assert.equal(a.calls, 1, "tried once, then passed over while cooling");
  b.answer = unreachable;
  a.answer = async () => "a";
  // Both cooling: still tried (b first, as the one taken in turn), rather than failing the call.
  assert.equal(await pool.call((c) => c.call(), {}), "a");
  await new Promise((r) => setTimeout(r, 250));
  b.answer = async () => "b";
  const served = [];
  for (let i = 0; i < 4; i++) served.push(await pool.call((c) => c.call(), {}));
  assert.deepEqual(served.sort(), ["a", "a", "b", "b"], "after the cooldown both share again");
});

test("without a cooldown (the default) the order is kept: a failed upstream is tried again on the next call", async () => {
  const a = new Fake("a", unreachable);
  const b = new Fake("b");
  const pool = new UpstreamPool([[a, b]], { kind: EXTRACTORS, name: "extractor" });
  for (let i = 0; i < 6; i++) assert.equal(await pool.call((c) => c.call(), {}), "b");
  assert.ok(a.calls >= 3, `a tried ${a.calls} times`);
});

test("with a cooldown, a group whose every upstream just failed goes after the others (a coordinator that could not be reached)", async () => {
  const local = new Fake("local", unreachable);
  const remote = new Fake("remote");
  const pool = new UpstreamPool([[local], [remote]], { kind: COORDINATORS, name: "coordinator", cooldownMs: 200 });
  for (let i = 0; i < 5; i++) assert.equal(await pool.call((c) => c.call(), {}), "remote");
  assert.equal(local.calls, 1, "the unreachable local one was not asked again while cooling");
  local.answer = async () => "local";
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(await pool.call((c) => c.call(), {}), "local", "preference comes back after the cooldown");
});

test("with a cooldown, a coordinator's deliberate UNAVAILABLE (the cluster's state) does not send the next calls elsewhere", async () => {
  const { metadata } = toGrpcError(new AppError(ErrorCode.UNAVAILABLE, "partitions 3 could not be searched"));
  const local = new Fake("local", () => Promise.reject(Object.assign(new Error("x"), { code: status.UNAVAILABLE, details: "x", metadata })));
  const remote = new Fake("remote");
  const pool = new UpstreamPool([[local], [remote]], { kind: COORDINATORS, name: "coordinator", cooldownMs: 10_000 });
  await caught(pool.call((c) => c.call(), {}));
  local.answer = async () => "local";
  assert.equal(await pool.call((c) => c.call(), {}), "local");
  assert.equal(remote.calls, 0);
});
