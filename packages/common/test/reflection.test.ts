import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { create, createFileRegistry, fromBinary, toBinary, toJson, type DescService, type FileRegistry } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema, type FileDescriptorProto } from "@bufbuild/protobuf/wkt";
import { descriptorSetPath, ErrorCode, MatchingService, ShardService } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { AppError, addService, channelCredentials, createLogger, serverCredentials, startGrpcServer, type GrpcServer } from "../src/index.ts";
import { answerReflection } from "../src/reflection.ts";
import { indexDescriptorSet } from "../src/reflection-index.ts";

const logger = createLogger("test", "silent");
const pki = sharedTestPki();
const ALWAYS_LISTED = ["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];

/** Every method of a service refusing, but `overrides`: the test only calls those through reflection. */
function refusingImpl(service: DescService, overrides: Record<string, () => Promise<object>>): never {
  const impl: Record<string, () => Promise<object>> = {};
  for (const m of service.methods) impl[m.localName] = overrides[m.localName] ?? (async () => { throw new AppError(ErrorCode.INVALID_ARGUMENT, "not in this test"); });
  return impl as never;
}

async function gatewayLike(): Promise<GrpcServer> {
  return startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [MatchingService.typeName],
    credentials: serverCredentials(pki.issue("gateway", "reflection-test-gateway"), { requireClientCert: true }),
    register: (s) => addService(s, MatchingService, refusingImpl(MatchingService, { stats: async () => ({ partitionCount: 64, logLastSequence: 7n }) }), logger),
  });
}

async function shardLike(): Promise<GrpcServer> {
  return startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", "reflection-test-shard"), { requireClientCert: true }),
    register: (s) => addService(s, ShardService, refusingImpl(ShardService, { shardStatus: async () => ({ shardId: "s-9", site: "b", partitions: [3, 5] }) }), logger),
  });
}

// Both servers live for the whole file: a second test that started its own server after the first
// one stopped failed its TLS handshake (client side: "disconnected before secure TLS connection"),
// a devcluster/grpc-js certificate-provider interplay outside this test's subject.
let gateway: GrpcServer;
let shard: GrpcServer;
before(async () => {
  gateway = await gatewayLike();
  shard = await shardLike();
});
after(async () => {
  await gateway.shutdown(100);
  await shard.shutdown(100);
});

type ReflectionReply = {
  listServicesResponse?: { service: { name: string }[] };
  fileDescriptorResponse?: { fileDescriptorProto: Buffer[] };
  errorResponse?: { errorCode: number; errorMessage: string };
};

/** A reflection client (messages from the reflection .proto that @grpc/reflection ships) on one stream. */
function reflectionClient(address: string, version: "v1" | "v1alpha") {
  const root = dirname(createRequire(import.meta.url).resolve("@grpc/reflection/package.json"));
  const pkg = grpc.loadPackageDefinition(loadSync(join(root, "build/proto/grpc/reflection", version, "reflection.proto"), { oneofs: true, longs: String }));
  const reflectionPkg = (pkg.grpc as grpc.GrpcObject).reflection as grpc.GrpcObject;
  const Client = (reflectionPkg[version] as grpc.GrpcObject).ServerReflection as grpc.ServiceClientConstructor;
  const client = new Client(address, channelCredentials(pki.admin));
  const ask = (request: Record<string, unknown>) =>
    new Promise<ReflectionReply>((resolve, reject) => {
      const stream = client.ServerReflectionInfo!(new grpc.Metadata(), { waitForReady: true }) as grpc.ClientDuplexStream<object, ReflectionReply>;
      stream.once("data", (reply: ReflectionReply) => { resolve(reply); stream.end(); });
      stream.once("error", reject);
      stream.write(request);
    });
  return { ask, close: () => client.close() };
}

/**
 * Builds a strict registry from what reflection returned for a symbol (the file declaring it, then its
 * imports): createFileRegistry throws on a missing import or a malformed descriptor. Imports go
 * first, as a FileDescriptorSet wants them (protobuf-es 2.x's resolver overload orders them wrongly
 * when two imports share one: audit.proto before timestamp.proto).
 */
async function registryFor(ask: (r: Record<string, unknown>) => Promise<ReflectionReply>, serviceName: string): Promise<FileRegistry> {
  const reply = await ask({ fileContainingSymbol: serviceName });
  const protos = reply.fileDescriptorResponse?.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
  assert.ok(protos && protos.length > 0, `no file for ${serviceName}: ${JSON.stringify(reply.errorResponse)}`);
  const byName = new Map(protos.map((p) => [p.name, p]));
  const ordered: FileDescriptorProto[] = [];
  const visit = (name: string) => {
    const file = byName.get(name);
    if (!file || ordered.includes(file)) return;
    for (const dep of file.dependency) visit(dep);
    ordered.push(file);
  };
  visit(protos[0]!.name);
  assert.equal(ordered.length, protos.length, "every returned file is an import of the first");
  return createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
}

/** Calls a unary method with bytes encoded and decoded by the registry only. */
async function callThrough(registry: FileRegistry, address: string, serviceName: string, methodName: string): Promise<unknown> {
  const service = registry.getService(serviceName);
  const method = service?.methods.find((m) => m.name === methodName);
  assert.ok(method, `${serviceName}.${methodName} not in the registry`);
  const client = new grpc.Client(address, channelCredentials(pki.admin));
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(`/${serviceName}/${methodName}`, (b: Buffer) => b, (b: Buffer) => b, Buffer.from(toBinary(method.input, create(method.input))), (err, res) => (err || !res ? reject(err) : resolve(res))),
    );
    return toJson(method.output, fromBinary(method.output, bytes), { registry });
  } finally {
    client.close();
  }
}

test("gateway's services: reflection alone lists them, loads MatchingService into a strict registry and calls Stats", async () => {
  const address = `127.0.0.1:${gateway.port}`;
  const { ask, close } = reflectionClient(address, "v1");
  try {
    const listed = await ask({ listServices: "*" });
    assert.deepEqual(listed.listServicesResponse?.service.map((s) => s.name).sort(), [MatchingService.typeName, ...ALWAYS_LISTED].sort());

    const registry = await registryFor(ask, MatchingService.typeName);
    const files = [...registry.files].map((f) => f.name).sort();
    // matching.proto with every file it imports, transitively (Timestamp is a well-known type).
    assert.deepEqual(files, ["google/protobuf/timestamp", "taj/v1/audit", "taj/v1/common", "taj/v1/matching"]);
    const matching = registry.getFile("taj/v1/matching.proto");
    assert.ok(matching?.proto.dependency.includes("google/protobuf/timestamp.proto"));
    assert.equal(registry.getMessage("taj.v1.StatsResponse")?.proto.options?.mapEntry, undefined, "a top-level message is no map entry");

    assert.deepEqual(await callThrough(registry, address, MatchingService.typeName, "Stats"), { partitionCount: 64, logLastSequence: "7" });

    const unknown = await ask({ fileContainingSymbol: "taj.v1.NoSuchService" });
    assert.equal(unknown.errorResponse?.errorCode, grpc.status.NOT_FOUND);
    assert.equal(unknown.fileDescriptorResponse, undefined);
    const missingFile = await ask({ fileByFilename: "taj/v1/nothing.proto" });
    assert.equal(missingFile.errorResponse?.errorCode, grpc.status.NOT_FOUND);
  } finally {
    close();
  }
});

test("an internal server's services: v1alpha (grpcurl's first try) lists only ShardService and calls ShardStatus through the registry", async () => {
  const address = `127.0.0.1:${shard.port}`;
  const { ask, close } = reflectionClient(address, "v1alpha");
  try {
    const listed = await ask({ listServices: "" });
    assert.deepEqual(listed.listServicesResponse?.service.map((s) => s.name).sort(), [ShardService.typeName, ...ALWAYS_LISTED].sort());
    const registry = await registryFor(ask, `${ShardService.typeName}.ShardStatus`);
    assert.deepEqual([...registry.files].map((f) => f.name).sort(), ["taj/v1/common", "taj/v1/shard"]);
    assert.deepEqual(await callThrough(registry, address, ShardService.typeName, "ShardStatus"), { shardId: "s-9", site: "b", partitions: [3, 5] });
  } finally {
    close();
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
    const [first, ...deps] = answer.fileDescriptorResponse.fileDescriptorProto;
    assert.equal(fromBinary(FileDescriptorProtoSchema, first!).name, file.name, "the file asked for comes first");
    assert.equal(deps.length >= file.dependency.length, true);
    served.set(file.name, first!);
  }
  // The set's own bytes hold each file as a length-delimited field 1: the served bytes are exactly those.
  for (const [name, bytes] of served) assert.ok(Buffer.from(setBytes).includes(Buffer.from(bytes)), `${name} re-encoded`);
  assert.ok(served.has("google/protobuf/timestamp.proto"));
  const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: [...served.values()].map((b) => fromBinary(FileDescriptorProtoSchema, b)) }));
  assert.equal([...registry.files].length, set.file.length);
  assert.ok(registry.getMessage("taj.v1.ClusterStatusResponse"));
  assert.equal(registry.getMessage("taj.v1.ClusterStatusResponse")?.proto.options?.mapEntry, undefined);
  const nothing = answerReflection(index, [], { messageRequest: "fileContainingSymbol", fileContainingSymbol: "taj.v1.Nope" });
  assert.deepEqual(nothing, { errorResponse: { errorCode: grpc.status.NOT_FOUND, errorMessage: "symbol not found" } });
});
