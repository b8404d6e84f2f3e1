import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { ErrorCode } from "@taj/proto";
import { AppError, fromServiceError, grpcStatusOf, toGrpcError } from "../src/index.ts";

/** A status as grpc-js reports it when the far side sent none of our metadata (a proxy, the transport). */
function bareStatus(code: status): ServiceError {
  return Object.assign(new Error(`${code}: from elsewhere`), { code, details: "from elsewhere", metadata: new Metadata() });
}

test("an unlabelled RESOURCE_EXHAUSTED means no capacity now: OVERLOADED, which goes back out as RESOURCE_EXHAUSTED", () => {
  const err = fromServiceError(bareStatus(status.RESOURCE_EXHAUSTED));
  assert.ok(err);
  assert.equal(err.code, ErrorCode.OVERLOADED);
  assert.equal(err.message, "overloaded");
  assert.equal(grpcStatusOf(err.code), status.RESOURCE_EXHAUSTED);
});

test("every status the reverse mapping knows round-trips to the same status; the rest are INTERNAL", () => {
  for (const s of [status.DEADLINE_EXCEEDED, status.UNAVAILABLE, status.NOT_FOUND, status.INVALID_ARGUMENT, status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED]) {
    assert.equal(grpcStatusOf(fromServiceError(bareStatus(s))!.code), s, `status ${s}`);
  }
  assert.equal(fromServiceError(bareStatus(status.DATA_LOSS))?.code, ErrorCode.INTERNAL);
});

test("a labelled RESOURCE_EXHAUSTED keeps its own code (IMAGE_TOO_LARGE is not turned into OVERLOADED)", () => {
  const payload = toGrpcError(new AppError(ErrorCode.IMAGE_TOO_LARGE, "image exceeds 10 bytes"));
  const err = fromServiceError(Object.assign(new Error("8"), payload));
  assert.equal(err?.code, ErrorCode.IMAGE_TOO_LARGE);
  assert.equal(err?.message, "image exceeds 10 bytes");
});
