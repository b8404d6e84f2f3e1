import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { pino } from "pino";
import { ErrorCode, ExtractorService, ShardService } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { AppError, addService, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer, type Logger } from "../src/index.ts";

const pki = sharedTestPki();
const silent = createLogger("test", "silent");

/** A logger whose JSON lines land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: "info" }, sink);
}

test("expected refusals are one info line without a stack, here and when relayed; unexpected failures stay warn with their error", async () => {
  const extractorLines: Record<string, unknown>[] = [];
  const relayLines: Record<string, unknown>[] = [];
  await using extractor = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger: silent, serviceNames: [ExtractorService.typeName],
    credentials: serverCredentials(pki.issue("extractor", "refusal-log-extractor"), { requireClientCert: true }),
    register: (s) => addService(s, ExtractorService, {
      extract: async (r) => {
        if (r.image.length === 1) throw new AppError(ErrorCode.NO_FACE, "no face found");
        if (r.image.length === 2) throw new AppError(ErrorCode.IMAGE_CORRUPT, "the image cannot be decoded", { cause: new Error("VipsJpeg: premature end of input\nat line 2") });
        throw new Error("disk full at /var/lib/x");
      },
    }, capturingLogger(extractorLines)),
  });
  const extractorClient = createClient(ExtractorService, `127.0.0.1:${extractor.port}`, channelCredentials(pki.admin));
  // A service that relays the extractor's errors, as the gateway does.
  await using relay = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger: silent, serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", "refusal-log-relay"), { requireClientCert: true }),
    register: (s) => addService(s, ShardService, {
      shardSearch: async (r) => {
        await extractorClient.extract({ image: new Uint8Array(r.k) });
        return {};
      },
      shardStatus: async () => ({}),
      listTemplates: async () => ({}),
    }, capturingLogger(relayLines)),
  });
  const client = createClient(ShardService, `127.0.0.1:${relay.port}`, channelCredentials(pki.admin));
  try {
    for (const k of [1, 2, 3]) await assert.rejects(client.shardSearch({ k }));
  } finally {
    client.close();
    extractorClient.close();
  }
  const [noFace, corrupt, broken] = extractorLines;
  assert.equal(extractorLines.length, 3);
  assert.deepEqual({ level: noFace!.level, codeName: noFace!.codeName, msg: noFace!.msg, err: noFace!.err }, { level: 30, codeName: "NO_FACE", msg: "rpc rejected", err: undefined });
  assert.deepEqual({ level: corrupt!.level, reason: corrupt!.reason, err: corrupt!.err }, { level: 30, reason: "VipsJpeg: premature end of input", err: undefined });
  assert.equal(broken!.level, 40);
  assert.match(String((broken!.err as { stack?: string }).stack), /disk full/);

  const [relayedNoFace, relayedCorrupt, relayedInternal] = relayLines;
  assert.equal(relayLines.length, 3);
  for (const line of [relayedNoFace!, relayedCorrupt!]) {
    assert.equal(line.level, 30);
    assert.equal(line.err, undefined);
    assert.equal(line.reason, undefined, "a relayed error only repeats its code");
    assert.ok(!JSON.stringify(line).includes("\\n"), "one line, no stack");
  }
  assert.equal(relayedNoFace!.codeName, "NO_FACE");
  assert.equal(relayedInternal!.level, 40);
  assert.equal(relayedInternal!.codeName, "INTERNAL");
  assert.ok(relayedInternal!.err, "an unexpected failure keeps its error");
});
