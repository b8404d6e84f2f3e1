import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata, status } from "@grpc/grpc-js";
import { ErrorCode } from "@taj/proto";
import {
  AppError, COORDINATORS, EXTRACTORS, GATEWAYS, REPLICAS, failureClass, isUnreachable, shouldTryAnother, toGrpcError, type UpstreamKind,
} from "../src/index.ts";

// What a client receives: a grpc-js ServiceError, with or without the TAJ detail the server attached.
const received = (code: status, metadata = new Metadata()) => AppError.from(Object.assign(new Error("x"), { code, details: "x", metadata }));
const answered = (code: ErrorCode) => {
  const payload = toGrpcError(new AppError(code, "on purpose"));
  return received(payload.code, payload.metadata);
};

test("unreachable is UNAVAILABLE without a TAJ detail; an upstream's own UNAVAILABLE is 'refused'", () => {
  const dropped = received(status.UNAVAILABLE);
  assert.equal(dropped.code, ErrorCode.UNAVAILABLE);
  assert.equal(isUnreachable(dropped), true);
  assert.equal(failureClass(dropped), "unreachable");
  const refused = answered(ErrorCode.UNAVAILABLE);
  assert.equal(refused.code, ErrorCode.UNAVAILABLE);
  assert.equal(isUnreachable(refused), false);
  assert.equal(failureClass(refused), "refused");
  // An AppError thrown locally (no cause) is no answer from an upstream either.
  assert.equal(isUnreachable(new AppError(ErrorCode.UNAVAILABLE, "local")), true);
  assert.equal(isUnreachable(received(status.DEADLINE_EXCEEDED)), false);
});

test("one class per code", () => {
  const classes = new Map<ErrorCode, string>([
    [ErrorCode.AUDIT_UNAVAILABLE, "refused"],
    [ErrorCode.MODEL_UNAVAILABLE, "refused"],
    [ErrorCode.DEADLINE_EXCEEDED, "timeout"],
    [ErrorCode.OVERLOADED, "busy"],
    [ErrorCode.RATE_LIMITED, "busy"],
    [ErrorCode.INTERNAL, "upstream"],
    [ErrorCode.PERMISSION_DENIED, "upstream"],
    [ErrorCode.UNAUTHENTICATED, "upstream"],
    [ErrorCode.INVALID_ARGUMENT, "request"],
    [ErrorCode.UNSUPPORTED_MODALITY, "request"],
    [ErrorCode.NO_FACE, "request"],
    [ErrorCode.NOT_FOUND, "request"],
    [ErrorCode.IMAGE_TOO_LARGE, "request"],
  ]);
  for (const [code, expected] of classes) assert.equal(failureClass(answered(code)), expected, ErrorCode[code]);
  // A cancelled call arrives as DEADLINE_EXCEEDED (errors.ts), so it is a timeout too.
  assert.equal(failureClass(received(status.CANCELLED)), "timeout");
});

test("the decision per kind of upstream keeps each caller's behaviour", () => {
  const cases: Array<[string, AppError]> = [
    ["unreachable", received(status.UNAVAILABLE)],
    ["refused", answered(ErrorCode.UNAVAILABLE)],
    ["audit", answered(ErrorCode.AUDIT_UNAVAILABLE)],
    ["timeout", received(status.DEADLINE_EXCEEDED)],
    ["internal", answered(ErrorCode.INTERNAL)],
    ["overloaded", answered(ErrorCode.OVERLOADED)],
    ["bad request", answered(ErrorCode.INVALID_ARGUMENT)],
    ["no face", answered(ErrorCode.NO_FACE)],
  ];
  const tried = (kind: UpstreamKind) => cases.filter(([, err]) => shouldTryAnother(err, kind)).map(([name]) => name);
  // Gateway -> extractors: any UNAVAILABLE (unreachable, or not ready); a crash on this image would repeat.
  assert.deepEqual(tried(EXTRACTORS), ["unreachable", "refused", "audit"]);
  // Gateway -> coordinators: only an unreachable one; "partitions could not be searched" would repeat.
  assert.deepEqual(tried(COORDINATORS), ["unreachable"]);
  // Coordinator -> replicas: anything but the request's own fault (or an overload it asks to wait out).
  assert.deepEqual(tried(REPLICAS), ["unreachable", "refused", "audit", "timeout", "internal"]);
  // Client -> gateways: gRPC status UNAVAILABLE or DEADLINE_EXCEEDED, as the drills retry.
  assert.deepEqual(tried(GATEWAYS), ["unreachable", "refused", "audit", "timeout"]);
});
