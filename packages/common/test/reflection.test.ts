import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { create, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { descriptorSetPath, ErrorCode, MatchingService, ShardService } from "@taj/proto";
import { ReflectionLookupError, reflectionClient, sharedTestPki } from "@taj/devcluster";
import type { DescService } from "@bufbuild/protobuf";
import {
  AppError, HEALTH_SERVICE, REFLECTION_SERVICES, addService, channelCredentials, createLogger,
  serverCredentials, startGrpcServer, type GrpcServer,
} from "../src/index.ts";
import { answerReflection } from "../src/reflection.ts";
import { indexDescriptorSet } from "../src/reflection-index.ts";

const logger = createLogger("test", "silent");
const pki = sharedTestPki();
const ALWAYS_LISTED = [HEALTH_SERVICE, ...REFLECTION_SERVICES];

/** Every method of a service refusing, but `overrides`: the test only calls those through reflection. */
function refusingImpl(service: DescService, overrides: Record<string, () => Promise<object>>): never {
  const impl: Record<string, () => Promise<object>> = {};
  for (const m of service.methods) impl[m.localName] = overrides[m.localName] ?? (async () => { throw new AppError(ErrorCode.INVALID_ARGUMENT, "not in this test"); });
  return impl as never;
}

// Both servers live for the whole file, started once.
let gateway: GrpcServer;
let shard: GrpcServer;
before(async () => {
  gateway = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [MatchingService.typeName],
    credentials: serverCredentials(pki.issue("gateway", "reflection-test-gateway"), { requireClientCert: true }),
    register: (s) => addService(s, MatchingService, refusingImpl(MatchingService, { stats: async () => ({ partitionCount: 64, logLastSequence: 7n }) }), logger),
  });
  shard = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", "reflection-test-shard"), { requireClientCert: true }),
    register: (s) => addService(s, ShardService, refusingImpl(ShardService, { shardStatus: async () => ({ shardId: "s-9", site: "b", partitions: [3, 5] }) }), logger),
  });
});
after(async () => {
  await gateway.shutdown(100);
  await shard.shutdown(100);
});

test("gateway's services: reflection alone lists them, loads MatchingService into a strict registry and calls Stats", async () => {
  const client = reflectionClient(`127.0.0.1:${gateway.port}`, channelCredentials(pki.admin));
  try {
    assert.deepEqual((await client.listServices()).sort(), [MatchingService.typeName, ...ALWAYS_LISTED].sort());

    const registry = await client.registryFor(MatchingService.typeName);
    // matching.proto with every file it imports, transitively (Timestamp is a well-known type).
    assert.deepEqual([...registry.files].map((f) => f.name).sort(), ["google/protobuf/timestamp", "taj/v1/audit", "taj/v1/common", "taj/v1/matching", "taj/v1/settings"]);
    assert.ok(registry.getFile("taj/v1/matching.proto")?.proto.dependency.includes("google/protobuf/timestamp.proto"));
    assert.equal(registry.getMessage("taj.v1.StatsResponse")?.proto.options?.mapEntry, undefined, "a top-level message is no map entry");

    assert.deepEqual(await client.call(registry, MatchingService.typeName, "Stats"), { partitionCount: 64, logLastSequence: "7" });

    await assert.rejects(client.registryFor("taj.v1.NoSuchService"), (e: unknown) => e instanceof ReflectionLookupError && e.grpcCode === grpc.status.NOT_FOUND);
  } finally {
    client.close();
  }
});

test("an internal server's services: v1alpha (grpcurl's first try) lists only ShardService and calls ShardStatus through the registry", async () => {
  const client = reflectionClient(`127.0.0.1:${shard.port}`, channelCredentials(pki.admin), "v1alpha");
  try {
    assert.deepEqual((await client.listServices()).sort(), [ShardService.typeName, ...ALWAYS_LISTED].sort());
    const registry = await client.registryFor(`${ShardService.typeName}.ShardStatus`);
    assert.deepEqual([...registry.files].map((f) => f.name).sort(), ["taj/v1/common", "taj/v1/shard"]);
    assert.deepEqual(await client.call(registry, ShardService.typeName, "ShardStatus"), { shardId: "s-9", site: "b", partitions: [3, 5] });
  } finally {
    client.close();
  }
});

test("every file is served byte for byte as buf wrote it, and every one loads into a strict registry", () => {
  const setBytes = readFileSync(descriptorSetPath);
  const set = fromBinary(FileDescriptorSetSchema, setBytes);
  const index = indexDescriptorSet(setBytes);
  const served = new Map<string, Uint8Array>();
  for (const file of set.file) {
    const answer = answerReflection(index, [], { messageRequest: "fileByFilename", fileByFilename: file.name });
    assert.ok("fileDescriptorResponse" in answer, file.name);
    const [first, ...imports] = answer.fileDescriptorResponse.fileDescriptorProto;
    assert.equal(fromBinary(FileDescriptorProtoSchema, first!).name, file.name, "the file asked for comes first");
    assert.ok(imports.length >= file.dependency.length, `${file.name}: its imports come with it`);
    served.set(file.name, first!);
  }
  // The set holds each file as a length-delimited field: the served bytes are exactly those.
  for (const [name, bytes] of served) assert.ok(Buffer.from(setBytes).includes(Buffer.from(bytes)), `${name} re-encoded`);
  assert.ok(served.has("google/protobuf/timestamp.proto"));
  // buf writes the set imports first, as createFileRegistry needs it.
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...served.values()].map((b) => fromBinary(FileDescriptorProtoSchema, b)) }));
  assert.equal([...registry.files].length, set.file.length);
  assert.ok(registry.getMessage("taj.v1.ClusterStatusResponse"));
  assert.equal(registry.getMessage("taj.v1.ClusterStatusResponse")?.proto.options?.mapEntry, undefined);
  assert.deepEqual(answerReflection(index, [], { messageRequest: "fileContainingSymbol", fileContainingSymbol: "taj.v1.Nope" }), {
    errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: "symbol not found" },
  });
  assert.deepEqual(answerReflection(index, [], { messageRequest: "fileByFilename", fileByFilename: "taj/v1/nothing.proto" }), {
    errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: "file not found" },
  });
});
