// grpc-js answers oversized, undecodable and badly framed calls itself; these tests pin that every
// such answer still carries a stable taj-error-code and none of grpc-js's own text.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import { gzipSync } from "node:zlib";
import * as grpc from "@grpc/grpc-js";
import { create, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ShardSearchRequestSchema, ShardService } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { AppError, addService, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer, type GrpcServer } from "../src/index.ts";

const LIMIT = 4096;
let server: GrpcServer;
let address: string;

before(async () => {
  server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger: createLogger("test", "silent"),
    serviceNames: [ShardService.typeName],
    credentials: serverCredentials(sharedTestPki().issue("shard", "transport-test-shard"), { requireClientCert: true }),
    maxRequestBytes: LIMIT,
    oversizedRequest: new AppError(ErrorCode.IMAGE_TOO_LARGE, "image exceeds 4000 bytes"),
    register: (s) =>
      addService(s, ShardService, {
        shardSearch: async (req) => ({ hits: [], appliedSequence: BigInt(req.template.length) }),
        shardStatus: async () => ({ shardId: "s1", site: "a" }),
        listTemplates: async () => ({ ids: [] }),
      }, createLogger("test", "silent")),
  });
  address = `127.0.0.1:${server.port}`;
});

after(() => server.shutdown(100));

const PATH = "/taj.v1.ShardService/ShardSearch";

function rawCall(body: Buffer): Promise<grpc.ServiceError | null> {
  const client = new grpc.Client(address, channelCredentials(sharedTestPki().admin));
  return new Promise((resolve) => {
    client.makeUnaryRequest(PATH, (b: Buffer) => b, (b: Buffer) => b, body, (err) => {
      client.close();
      resolve(err);
    });
  });
}

test("a request at the receive limit reaches the handler; one byte more gets the configured code", async () => {
  const client = createClient(ShardService, address, channelCredentials(sharedTestPki().admin));
  // 1022 packed floats (3 + 4088 bytes) and k = 2^21 (5 bytes): exactly LIMIT bytes.
  const atLimit = { template: new Array(1022).fill(0.5), k: 2 ** 21 };
  assert.equal(toBinary(ShardSearchRequestSchema, create(ShardSearchRequestSchema, atLimit)).length, LIMIT);
  const answer = await client.shardSearch(atLimit);
  assert.equal(answer.appliedSequence, 1022n, "the handler saw the whole request");
  await assert.rejects(client.shardSearch({ ...atLimit, k: 2 ** 28 }), (e: unknown) =>
    e instanceof AppError && e.code === ErrorCode.IMAGE_TOO_LARGE && e.message === "image exceeds 4000 bytes");
  client.close();
});

test("the oversized answer is RESOURCE_EXHAUSTED with the code trailer and no grpc-js text", async () => {
  const err = await rawCall(Buffer.alloc(LIMIT * 4, 0x0a));
  assert.equal(err?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.deepEqual(err?.metadata.get("taj-error-code"), ["IMAGE_TOO_LARGE"]);
  assert.equal(err?.details, "IMAGE_TOO_LARGE: image exceeds 4000 bytes");
});

test("bytes that are not a valid message get INVALID_ARGUMENT, not grpc-js's INTERNAL", async () => {
  for (const body of [[0x0a, 0x05, 0x01], [0x00, 0x01], [0x0e, 0x01], [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]]) {
    const err = await rawCall(Buffer.from(body));
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `bytes ${Buffer.from(body).toString("hex")}`);
    assert.deepEqual(err?.metadata.get("taj-error-code"), ["INVALID_ARGUMENT"]);
    assert.equal(err?.details, "INVALID_ARGUMENT: the request is not a valid taj.v1.ShardSearchRequest message");
  }
});

/** One call over raw HTTP/2 (mutual TLS as an operator) with the headers and body given, for framing grpc-js clients never send. */
async function http2Call(headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<Record<string, string>> {
  const admin = sharedTestPki().admin;
  const session = http2.connect(`https://${address}`, {
    ca: readFileSync(admin.caFile), cert: readFileSync(admin.certFile), key: readFileSync(admin.keyFile), ALPNProtocols: ["h2"],
  });
  try {
    return await new Promise((resolve, reject) => {
      const out: Record<string, string> = {};
      const stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers", ...headers });
      const take = (h: http2.IncomingHttpHeaders) => {
        for (const [k, v] of Object.entries(h)) if (typeof v === "string") out[k] = v;
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", () => {});
      stream.on("close", () => resolve(out));
      stream.on("error", reject);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

function frame(payload: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(compressed ? 1 : 0, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

test("bad framing: timeout header, compressed payloads, encodings", async () => {
  const cases: Array<[string, http2.OutgoingHttpHeaders, Buffer, string]> = [
    ["malformed grpc-timeout", { "grpc-timeout": "soon" }, frame(Buffer.alloc(0)), "INVALID_ARGUMENT"],
    ["corrupt gzip payload", { "grpc-encoding": "gzip" }, frame(Buffer.from("not gzip at all"), true), "INVALID_ARGUMENT"],
    ["unknown encoding", { "grpc-encoding": "br" }, frame(Buffer.from([1, 2, 3]), true), "INVALID_ARGUMENT"],
    ["gzip that inflates above the limit", { "grpc-encoding": "gzip" }, frame(gzipSync(Buffer.alloc(LIMIT * 100)), true), "IMAGE_TOO_LARGE"],
    ["frame longer than the limit", {}, frame(Buffer.alloc(LIMIT + 1)), "IMAGE_TOO_LARGE"],
    ["two messages in a unary call", {}, Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.alloc(0))]), "INVALID_ARGUMENT"],
    ["no message", {}, Buffer.alloc(0), "INVALID_ARGUMENT"],
    ["a length prefix longer than the body", {}, frame(Buffer.alloc(10)).subarray(0, 8), "INVALID_ARGUMENT"],
  ];
  for (const [name, headers, body, code] of cases) {
    const answer = await http2Call(headers, body);
    assert.equal(answer["taj-error-code"], code, `${name}: ${JSON.stringify(answer)}`);
    const message = decodeURIComponent(answer["grpc-message"] ?? "");
    assert.ok(message.startsWith(`${code}: `), `${name}: ${message}`);
    assert.doesNotMatch(message, /grpc-js|Received|deseriali|larger than max|streaming|internal/i, name);
  }
  // A valid gzip-compressed request is still served.
  const ok = await http2Call({ "grpc-encoding": "gzip" }, frame(gzipSync(Buffer.alloc(0)), true));
  assert.equal(ok["grpc-status"], "0", JSON.stringify(ok));
});
