import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, ShardService, Modality } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { ALLOWED_PEERS, AppError, addService, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer } from "../src/index.ts";

const logger = createLogger("test", "silent");
// Test-only import of the devcluster's PKI (openssl): a real CA and real certificates.
const pki = sharedTestPki();
const admin = channelCredentials(pki.admin);

async function withServer(fn: (address: string) => Promise<void>): Promise<void> {
  let lastDeadline = 0;
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", "grpc-test-shard"), { requireClientCert: true }),
    register: (s) =>
      addService(s, ShardService, {
        shardSearch: async (req, ctx) => {
          lastDeadline = ctx.deadline;
          if (req.k === 0) throw new AppError(ErrorCode.INVALID_ARGUMENT, "k must be positive");
          if (req.k === 13) throw new Error("secret internal detail /var/lib/x");
          if (req.k === 99) {
            await new Promise((r) => setTimeout(r, 300));
          }
          return { hits: [{ id: "r1", similarity: 0.5, partition: req.partitions[0] ?? 0 }], appliedSequence: BigInt(lastDeadline > 0 ? 1 : 0) };
        },
        shardStatus: async () => ({ shardId: "s1", site: "a" }),
        listTemplates: async () => ({ ids: [] }),
      }, logger, { allowedPeers: ALLOWED_PEERS.shard }),
  });
  try {
    await fn(`127.0.0.1:${server.port}`);
  } finally {
    await server.shutdown(100);
  }
}

test("a unary call round-trips protobuf-es messages through grpc-js", async () => {
  await withServer(async (address) => {
    const client = createClient(ShardService, address, admin);
    const res = await client.shardSearch({ modality: Modality.FACE, partitions: [7], template: [1, 0], k: 3 }, { timeoutMs: 2000 });
    assert.equal(res.hits.length, 1);
    assert.equal(res.hits[0]!.partition, 7);
    assert.equal(res.appliedSequence, 1n, "the deadline reached the handler");
    client.close();
  });
});

test("AppError codes cross the wire intact and internal errors leak nothing", async () => {
  await withServer(async (address) => {
    const client = createClient(ShardService, address, admin);
    await assert.rejects(client.shardSearch({ k: 0 }), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INVALID_ARGUMENT && e.message === "k must be positive");
    await assert.rejects(client.shardSearch({ k: 13 }), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INTERNAL && !e.message.includes("secret"));
    await assert.rejects(client.shardSearch({ k: 99 }, { timeoutMs: 50 }), (e: unknown) => e instanceof AppError && e.code === ErrorCode.DEADLINE_EXCEEDED);
    client.close();
  });
});

test("raw gRPC callers see the status and the stable code in trailing metadata", async () => {
  await withServer(async (address) => {
    const Ctor = grpc.makeGenericClientConstructor({}, "x");
    const raw = new Ctor(address, admin);
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      raw.makeUnaryRequest(
        "/taj.v1.ShardService/ShardSearch",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0), // k = 0
        (e) => resolve(e as grpc.ServiceError),
      );
    });
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.deepEqual(err.metadata.get("taj-error-code"), ["INVALID_ARGUMENT"]);
    raw.close();
  });
});

test("every server answers grpc.health.v1 Check with SERVING", async () => {
  await withServer(async (address) => {
    const Ctor = grpc.makeGenericClientConstructor({}, "x");
    const raw = new Ctor(address, admin);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      raw.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!)));
    });
    // HealthCheckResponse { status = 1 (SERVING) } encodes as field 1 varint 1.
    assert.deepEqual([...reply], [0x08, 0x01]);
    raw.close();
  });
});

test("server reflection lists the services, so grpcurl can discover them", async () => {
  await withServer(async (address) => {
    const Ctor = grpc.makeGenericClientConstructor({}, "x");
    const raw = new Ctor(address, admin);
    const call = raw.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", (b: Buffer) => b, (b: Buffer) => b);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      call.on("data", (b: Buffer) => resolve(b));
      call.on("error", reject);
      call.write(Buffer.from([0x3a, 0x00])); // ServerReflectionRequest { list_services: "" }
    });
    call.end();
    assert.ok(reply.toString("latin1").includes("taj.v1.ShardService"), "ShardService is listed");
    raw.close();
  });
});
