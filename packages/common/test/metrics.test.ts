import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, ShardService } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import {
  AppError, addService, certificatesNotAfterMs, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer, startMetrics,
} from "../src/index.ts";

const pki = sharedTestPki();
const logger = createLogger("metrics-test", "silent");

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of the one series of `name` that has (at least) these labels, from the text format. */
function value(text: string, name: string, labels: Record<string, string>): number | undefined {
  const found = text.split("\n").flatMap((line) => {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) return [];
    const have = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((l): [string, string] => [l[1]!, l[2]!]));
    return Object.entries(labels).every(([k, v]) => have[k] === v) ? [Number(m[3])] : [];
  });
  assert.ok(found.length <= 1, `one series of ${name} with ${JSON.stringify(labels)}`);
  return found[0];
}

test("every call of a served service is observed by the server itself, by method and outcome code; health checks are not", async () => {
  const tls = pki.issue("shard", "metrics-test-shard");
  await using metrics = await startMetrics("shard", 0, "127.0.0.1", logger, { tls, labels: { site: "a" } });
  await using server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger, serviceNames: [ShardService.typeName], metrics,
    credentials: serverCredentials(tls, { requireClientCert: true }),
    register: (s) => addService(s, ShardService, {
      shardSearch: async () => ({}),
      shardStatus: async () => ({ site: "a" }),
      listTemplates: async () => {
        throw new AppError(ErrorCode.NOT_FOUND, "nothing here");
      },
    }, logger),
  });
  const client = createClient(ShardService, `127.0.0.1:${server.port}`, channelCredentials(pki.admin));
  const health = new grpc.Client(`127.0.0.1:${server.port}`, channelCredentials(pki.admin));
  try {
    await client.shardStatus({}, { timeoutMs: 5_000 });
    await client.shardStatus({}, { timeoutMs: 5_000 });
    await assert.rejects(client.listTemplates({}, { timeoutMs: 5_000 }));
    await new Promise<void>((resolve, reject) =>
      health.makeUnaryRequest("/grpc.health.v1.Health/Check", () => Buffer.alloc(0), (b: Buffer) => b, {}, (err) => (err ? reject(err) : resolve())),
    );
    const text = await scrape(metrics.port);
    assert.equal(value(text, "taj_rpc_duration_seconds_count", { rpc: "ShardStatus", code: "OK", site: "a", service: "shard" }), 2);
    assert.equal(value(text, "taj_rpc_duration_seconds_count", { rpc: "ListTemplates", code: "NOT_FOUND", site: "a", service: "shard" }), 1);
    assert.doesNotMatch(text, /rpc="Check"/);
    assert.match(await (await fetch(`http://127.0.0.1:${metrics.port}/readyz`)).text(), /^serving/);
  } finally {
    client.close();
    health.close();
  }
});

test("certificate expiry: seconds until the notAfter of the identity and CA certificates the process holds", async () => {
  const tls = pki.issue("gateway", "metrics-test-expiry");
  await using metrics = await startMetrics("gateway", 0, "127.0.0.1", logger, { tls });
  const wanted = {
    identity: Date.parse(new X509Certificate(readFileSync(tls.certFile)).validTo),
    ca: Date.parse(new X509Certificate(readFileSync(tls.caFile)).validTo),
  };
  // The file watcher reads asynchronously after the listener is added: poll until both are known.
  let text = "";
  for (let i = 0; i < 200 && !/certificate="ca"/.test(text); i++) {
    text = await scrape(metrics.port);
    if (!/certificate="ca"/.test(text)) await new Promise((r) => setTimeout(r, 25));
  }
  for (const [certificate, notAfter] of Object.entries(wanted)) {
    const seconds = value(text, "taj_tls_certificate_expiry_seconds", { certificate, service: "gateway" });
    assert.ok(seconds !== undefined, `${certificate} expiry reported`);
    // Seconds from the scrape to notAfter: within a minute of what the file says.
    assert.ok(Math.abs(seconds - (notAfter - Date.now()) / 1000) < 60, `${certificate}: ${seconds}`);
  }
  assert.notEqual(wanted.identity, wanted.ca, "the two certificates differ, so the labels are not swapped unnoticed");
});

test("a CA bundle's certificates are all read (the earliest expiry is the CA's)", () => {
  const one = readFileSync(pki.caFile, "utf8");
  const leaf = readFileSync(pki.admin.certFile, "utf8");
  const both = certificatesNotAfterMs(`${one}\n${leaf}`);
  assert.equal(both.length, 2);
  assert.deepEqual(certificatesNotAfterMs(one), [both[0]]);
});
