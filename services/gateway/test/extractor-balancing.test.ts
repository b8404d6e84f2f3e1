import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ExtractorService, ExtractRequestSchema, Modality } from "@taj/proto";
import { addService, createClient, createLogger, grpcServiceDefinition, serverCredentials, startGrpcServer, type GrpcServer } from "@taj/common";
import { sharedTestPki } from "@taj/devcluster";
import { ExtractorPool } from "../src/upstreams.ts";
import { gatewayUpstreamCredentials } from "./fixtures/tls.ts";

// Two real extractor stand-ins over mutual TLS, one on 127.0.0.1 and one on 127.0.0.2 at the same
// port: what a headless Service's DNS name gives a client (every pod's address, one port). The
// target `ipv4:127.0.0.1:P,127.0.0.2:P` is one name that resolves to both, offline. grpc-js checks
// each server's certificate against the target's authority (its first address here; the Service
// name in Kubernetes), so the certificate names both hosts, as a pod's would name the Service.
// Each stand-in works on one extraction at a time (an extractor is CPU-bound: a core each).

const silent = createLogger("test", "silent");
const WORK_MS = 40;
const HOSTS = ["127.0.0.1", "127.0.0.2"] as const;

interface StandIn {
  server: GrpcServer;
  calls: number;
}

let standIns: StandIn[] = [];
let port = 0;
let target = "";

async function startStandIn(host: string, at: number): Promise<StandIn> {
  const state = { calls: 0, busyUntil: 0 };
  const credentials = serverCredentials(sharedTestPki().issue("extractor", "balancing-extractor", HOSTS), { requireClientCert: true });
  const server = await startGrpcServer({
    host, port: at, logger: silent, serviceNames: [ExtractorService.typeName], credentials,
    register: (s) =>
      addService(s, ExtractorService, {
        extract: async () => {
          state.calls++;
          // One at a time: a call waits for the previous one to finish, then takes WORK_MS.
          const start = Math.max(Date.now(), state.busyUntil);
          state.busyUntil = start + WORK_MS;
          await new Promise((r) => setTimeout(r, state.busyUntil - Date.now()));
          return { template: [1, 0], modelId: host };
        },
      }, silent),
  });
  const standIn = { server, get calls() { return state.calls; } } as StandIn;
  return standIn;
}

before(async () => {
  const first = await startStandIn(HOSTS[0], 0);
  port = first.server.port;
  standIns = [first, await startStandIn(HOSTS[1], port)];
  target = `ipv4:${HOSTS.map((h) => `${h}:${port}`).join(",")}`;
});

after(async () => {
  for (const s of standIns) await s.server.shutdown(100);
});

const counts = () => standIns.map((s) => s.calls);
const since = (before: number[]) => counts().map((c, i) => c - before[i]!);

/** `total` extractions through `extract`, `concurrency` at a time; the wall time in ms. */
async function run(extract: () => Promise<unknown>, total: number, concurrency: number): Promise<number> {
  const started = performance.now();
  let left = total;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (left-- > 0) await extract();
  }));
  return performance.now() - started;
}

const request = { modality: Modality.FACE, image: new Uint8Array([1]) };

test("one target that resolves to two extractors: createClient's calls reach both, about half each", async () => {
  const client = createClient(ExtractorService, target, gatewayUpstreamCredentials());
  try {
    const before = counts();
    await run(() => client.extract(request, { timeoutMs: 10_000 }), 40, 1);
    const served = since(before);
    assert.equal(served[0]! + served[1]!, 40);
    // round_robin: after the first call or two (while the second subchannel connects), strict turns.
    for (const n of served) assert.ok(n >= 16 && n <= 24, `calls per extractor ${served.join("/")}`);
  } finally {
    client.close();
  }
});

test("the defect it fixes: grpc-js's default pick_first pins the same target to one extractor", async () => {
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(ExtractorService), ExtractorService.typeName);
  const raw = new Ctor(target, gatewayUpstreamCredentials(), {});
  const client = raw as unknown as Record<string, (req: unknown, md: grpc.Metadata, cb: (err: Error | null) => void) => void>;
  try {
    const before = counts();
    for (let i = 0; i < 10; i++) {
      await new Promise<void>((resolve, reject) =>
        client.extract!.call(raw, create(ExtractRequestSchema, request), new grpc.Metadata(), (err) => (err ? reject(err) : resolve())));
    }
    const served = since(before);
    assert.deepEqual([...served].sort((a, b) => a - b), [0, 10], `pick_first: ${served.join("/")}`);
  } finally {
    raw.close();
  }
});

test("N pods give ~N times: the gateway's pool with one extractor address (the Service) spreads the calls, two answer in about half the time", async () => {
  const one = new ExtractorPool(gatewayUpstreamCredentials(), [`${HOSTS[0]}:${port}`], [], { maxInFlight: 8, maxQueued: 64 });
  const both = new ExtractorPool(gatewayUpstreamCredentials(), [target], [], { maxInFlight: 8, maxQueued: 64 });
  try {
    // Warm up both channels (TLS handshakes), outside the timing.
    await run(() => one.extract(request, { timeoutMs: 10_000 }), 2, 1);
    await run(() => both.extract(request, { timeoutMs: 10_000 }), 4, 2);
    let before = counts();
    const oneMs = await run(() => one.extract(request, { timeoutMs: 10_000 }), 40, 4);
    assert.deepEqual(since(before), [40, 0]);
    before = counts();
    const bothMs = await run(() => both.extract(request, { timeoutMs: 10_000 }), 40, 4);
    const served = since(before);
    for (const n of served) assert.ok(n >= 14 && n <= 26, `calls per extractor ${served.join("/")}`);
    const speedUp = oneMs / bothMs;
    console.log(`one extractor ${oneMs.toFixed(0)} ms, two behind one address ${bothMs.toFixed(0)} ms (x${speedUp.toFixed(2)}), served ${served.join("/")}`);
    // 40 calls x 40 ms of one-at-a-time work: >= 1 600 ms on one, >= 800 ms on two.
    assert.ok(oneMs >= 40 * WORK_MS, `one extractor cannot be faster than its work (${oneMs} ms)`);
    assert.ok(speedUp > 1.6, `two extractors behind one address give x${speedUp.toFixed(2)}`);
  } finally {
    one.close();
    both.close();
  }
});
