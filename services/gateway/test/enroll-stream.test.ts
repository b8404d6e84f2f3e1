import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { EnrollStreamRequestSchema, ErrorCode, Modality, type EnrollRequest, type EnrollStreamRequest } from "@taj/proto";
import { AppError } from "@taj/common";
import { enrollStream } from "../src/handlers/enroll-stream.ts";

// The stream handler alone, with a stand-in for Enroll's path: ordering, the in-flight bound and
// how a failing item or a failing request stream is answered. The real path: test/enroll-stream.test.ts.

const request = (n: number, id = `r-${n}`) => create(EnrollStreamRequestSchema, { item: BigInt(n), enroll: { modality: Modality.FACE, id, image: new Uint8Array([1]) } });

/** A request stream that counts how many requests were pulled from it. */
function counted(requests: EnrollStreamRequest[], failAfter?: number) {
  const state = { pulled: 0 };
  async function* gen() {
    for (const r of requests) {
      if (failAfter !== undefined && state.pulled === failAfter) throw new AppError(ErrorCode.INVALID_ARGUMENT, "the request is not a valid taj.v1.EnrollStreamRequest message");
      state.pulled++;
      yield r;
    }
  }
  return { state, requests: gen() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("results come back as items finish, not in request order, each echoing item and id", async () => {
  const delays = new Map([["r-1", 60], ["r-2", 5], ["r-3", 30]]);
  const { requests } = counted([request(1), request(2), request(3)]);
  const results = [];
  for await (const r of enrollStream(requests, {
    maxInFlight: 3,
    enrollItem: async (req: EnrollRequest) => {
      await sleep(delays.get(req.id) ?? 0);
      return { logSequence: BigInt(100 + Number(req.id.slice(2))) };
    },
  })) results.push(r);
  assert.deepEqual(results.map((r) => [r.item, r.id, r.outcome?.case, r.outcome?.value]), [
    [2n, "r-2", "logSequence", 102n],
    [3n, "r-3", "logSequence", 103n],
    [1n, "r-1", "logSequence", 101n],
  ]);
});

test("at most maxInFlight items are worked on, and the stream is not read beyond them", async () => {
  const { state, requests } = counted(Array.from({ length: 20 }, (_, i) => request(i + 1)));
  let inFlight = 0;
  let peak = 0;
  let pulledAtPeak = 0;
  const answered: bigint[] = [];
  for await (const r of enrollStream(requests, {
    maxInFlight: 4,
    enrollItem: async () => {
      inFlight++;
      if (inFlight > peak) [peak, pulledAtPeak] = [inFlight, state.pulled];
      await sleep(5);
      inFlight--;
      return { logSequence: 1n };
    },
  })) {
    answered.push(r.item ?? 0n);
    assert.ok(state.pulled <= answered.length + 4, `read ${state.pulled} requests with only ${answered.length} answered`);
  }
  assert.equal(peak, 4);
  assert.equal(pulledAtPeak, 4, "the fifth request was not read while four were in flight");
  assert.deepEqual([...answered].sort((a, b) => Number(a - b)), Array.from({ length: 20 }, (_, i) => BigInt(i + 1)));
});

test("a failing item answers its code and safe message; the stream goes on; an item without enroll is INVALID_ARGUMENT", async () => {
  const codes: Array<ErrorCode | "OK"> = [];
  const { requests } = counted([request(1), request(2, "bad id!"), create(EnrollStreamRequestSchema, { item: 3n }), request(4), request(5, "crash")]);
  const results = [];
  for await (const r of enrollStream(requests, {
    maxInFlight: 1,
    enrollItem: async (req) => {
      if (req.id === "bad id!") throw new AppError(ErrorCode.INVALID_ID, "id must be 1-64 characters of [A-Za-z0-9_-]");
      if (req.id === "crash") throw new Error("secret internal detail /var/lib/x");
      return { logSequence: 7n, quality: { interOcularPx: 40 } };
    },
    onResult: (_req, code) => codes.push(code),
  })) results.push(r);
  const summary = results.map((r) => [r.item, r.outcome?.case === "error" ? ErrorCode[r.outcome.value.code ?? 0] : r.outcome?.value]);
  assert.deepEqual(summary, [[1n, 7n], [2n, "INVALID_ID"], [3n, "INVALID_ARGUMENT"], [4n, 7n], [5n, "INTERNAL"]]);
  const crash = results[4]!.outcome;
  assert.ok(crash?.case === "error" && !String(crash.value.message).includes("secret"));
  assert.equal(results[0]!.quality?.interOcularPx, 40);
  assert.deepEqual(codes, ["OK", ErrorCode.INVALID_ID, ErrorCode.INVALID_ARGUMENT, "OK", ErrorCode.INTERNAL]);
});

test("a request stream that breaks ends the results with its error, after what was answered", async () => {
  const { requests } = counted([request(1), request(2), request(3)], 2);
  const results: bigint[] = [];
  await assert.rejects(async () => {
    for await (const r of enrollStream(requests, { maxInFlight: 1, enrollItem: async () => ({ logSequence: 1n }) })) results.push(r.item ?? 0n);
  }, (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT);
  assert.deepEqual(results, [1n, 2n]);
});
