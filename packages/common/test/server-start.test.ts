import { test } from "node:test";
import assert from "node:assert/strict";
import { ShardService } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { addService, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer } from "../src/index.ts";

const pki = sharedTestPki();
const logger = createLogger("test", "silent");
const impl = { shardSearch: async () => ({}), shardStatus: async () => ({ site: "z" }), listTemplates: async () => ({}) };

async function shardServer(name: string) {
  return startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [ShardService.typeName],
    credentials: serverCredentials(pki.issue("shard", name), { requireClientCert: true }),
    register: (s) => addService(s, ShardService, impl, logger),
  });
}

test("a server answers its first caller at once: it is not announced before its certificate files are read", async () => {
  // The first server and call load the admin identity, so the next client handshakes without delay.
  await using first = await shardServer("start-test-first");
  const warm = createClient(ShardService, `127.0.0.1:${first.port}`, channelCredentials(pki.admin));
  try {
    assert.equal((await warm.shardStatus({}, { timeoutMs: 5_000 })).site, "z");
    // A new certificate: its files are read only once the server binds. grpc-js drops connections
    // until then, and a call without wait-for-ready fails at once (UNAVAILABLE) if it was dropped.
    await using second = await shardServer("start-test-second");
    const client = createClient(ShardService, `127.0.0.1:${second.port}`, channelCredentials(pki.admin));
    try {
      assert.equal((await client.shardStatus({}, { timeoutMs: 5_000 })).site, "z");
    } finally {
      client.close();
    }
  } finally {
    warm.close();
  }
});
