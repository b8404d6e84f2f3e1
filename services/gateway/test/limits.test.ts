import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, ExtractorService, Modality, PrincipalKind, PrincipalSchema } from "@taj/proto";
import { AppError, addService, createLogger, startGrpcServer, type CallContext, type GrpcServer } from "@taj/common";
import { CallGate, RateLimits, peerHost, type Authenticator } from "../src/auth/index.ts";
import { ExtractorPool } from "../src/upstreams.ts";
import { extractorServerCredentials, gatewayUpstreamCredentials } from "./fixtures/tls.ts";

const silent = createLogger("test", "silent");

async function codeOf(p: Promise<unknown>): Promise<AppError | "OK"> {
  try {
    await p;
    return "OK";
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return err;
  }
}

test("a rate allows its calls per second plus a burst, then RATE_LIMITED with retry advice; keys are separate", async () => {
  const limits = new RateLimits(3, 2, "for this caller");
  const outcomes: Array<AppError | "OK"> = [];
  for (let i = 0; i < 7; i++) outcomes.push(await codeOf(limits.take("oidc:a")));
  assert.deepEqual(outcomes.slice(0, 5), ["OK", "OK", "OK", "OK", "OK"]);
  for (const refused of outcomes.slice(5)) {
    assert.ok(refused !== "OK");
    assert.equal(refused.code, ErrorCode.RATE_LIMITED);
    assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 1_000, `retryAfterMs ${refused.retryAfterMs}`);
  }
  assert.equal(await codeOf(limits.take("oidc:b")), "OK", "another principal has its own allowance");
  await new Promise((r) => setTimeout(r, 1_050));
  assert.equal(await codeOf(limits.take("oidc:a")), "OK", "the second's allowance comes back");
});

test("peer addresses are limited by host, whatever the port", () => {
  assert.equal(peerHost("127.0.0.1:5555"), "127.0.0.1");
  assert.equal(peerHost("ipv4:10.1.2.3:1"), "10.1.2.3");
  assert.equal(peerHost("[::1]:443"), "::1");
  assert.equal(peerHost("ipv6:[fe80::1]:9"), "fe80::1");
});

test("an address that keeps failing authentication is refused before any verification; good callers elsewhere are not", async () => {
  let verified = 0;
  const authenticator: Authenticator = {
    async authenticate(ctx) {
      verified++;
      if (ctx.metadata.get("authorization")[0] !== "Bearer good") throw new AppError(ErrorCode.UNAUTHENTICATED, "bad token");
      return create(PrincipalSchema, { id: "oidc:good", kind: PrincipalKind.TOKEN, roles: [] });
    },
  };
  const gate = new CallGate(authenticator, new RateLimits(1_000, 0, "for this caller"), new RateLimits(2, 3, "failing authentication"));
  const ctx = (peerAddress: string, token: string): CallContext => {
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token}`);
    return { deadline: Infinity, signal: new AbortController().signal, metadata, peerCertificate: undefined, peerAddress, malformedRequest: undefined };
  };
  const codes: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await codeOf(gate.admit(ctx(`10.0.0.9:${4000 + i}`, "bad")));
    codes.push(r === "OK" ? "OK" : ErrorCode[r.code]);
  }
  // 2 per second + 3 burst = 5 failures, then refused without a signature check.
  assert.deepEqual(codes, [...Array<string>(5).fill("UNAUTHENTICATED"), ...Array<string>(15).fill("RATE_LIMITED")]);
  assert.equal(verified, 5);
  assert.equal(await codeOf(gate.admit(ctx("10.0.0.8:1", "good"))).then((r) => (r === "OK" ? r : ErrorCode[r.code])), "OK");
  const blocked = await codeOf(gate.admit(ctx("10.0.0.9:1", "good")));
  assert.ok(blocked !== "OK" && blocked.code === ErrorCode.RATE_LIMITED, "the flooding address waits, even with a good token");
  assert.ok(blocked.retryAfterMs > 0);
});

// A real ExtractorService whose calls take `delayMs`; it counts how many run at once.
let slow: { server: GrpcServer; state: { delayMs: number; running: number; maxRunning: number; calls: number } };

before(async () => {
  const state = { delayMs: 300, running: 0, maxRunning: 0, calls: 0 };
  const server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger: silent, serviceNames: [ExtractorService.typeName], credentials: extractorServerCredentials(),
    register: (s) =>
      addService(s, ExtractorService, {
        extract: async () => {
          state.calls++;
          state.maxRunning = Math.max(state.maxRunning, ++state.running);
          await new Promise((r) => setTimeout(r, state.delayMs));
          state.running--;
          return { template: [1, 0], modelId: "slow" };
        },
      }, silent),
  });
  slow = { server, state };
});

after(async () => {
  await slow?.server.shutdown(100);
});

test("back-pressure: a saturated pool queues a bounded number of calls and refuses the rest OVERLOADED at once", async () => {
  const pool = new ExtractorPool(gatewayUpstreamCredentials(), [`127.0.0.1:${slow.server.port}`], [], { maxInFlight: 2, maxQueued: 3 });
  try {
    const started = Date.now();
    const calls = Array.from({ length: 10 }, () =>
      pool.extract({ modality: Modality.FACE, image: new Uint8Array([1]) }, { timeoutMs: 10_000 }).then(
        () => ({ ok: true as const, ms: Date.now() - started }),
        (err: AppError) => ({ ok: false as const, err, ms: Date.now() - started }),
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.queued, 3);
    const results = await Promise.all(calls);
    const refused = results.filter((r) => !r.ok);
    assert.equal(results.filter((r) => r.ok).length, 5, "2 in flight + 3 queued");
    assert.equal(refused.length, 5);
    for (const r of refused) {
      assert.equal(ErrorCode[r.err.code], "OVERLOADED");
      assert.ok(r.err.retryAfterMs >= 10, `retry advice ${r.err.retryAfterMs}`);
      assert.ok(r.ms < 100, `refused at once, not after waiting (${r.ms} ms)`);
    }
    assert.equal(slow.state.maxRunning, 2, "never more than maxInFlight at the extractor");
    assert.equal(slow.state.calls, 5);
    assert.equal(pool.queued, 0);
  } finally {
    pool.close();
  }
});

test("back-pressure: a queued call whose deadline passes leaves the queue with DEADLINE_EXCEEDED; the next one gets the slot", async () => {
  const pool = new ExtractorPool(gatewayUpstreamCredentials(), [`127.0.0.1:${slow.server.port}`], [], { maxInFlight: 1, maxQueued: 2 });
  try {
    const first = pool.extract({ modality: Modality.FACE, image: new Uint8Array([1]) }, { timeoutMs: 5_000 });
    const impatient = codeOf(pool.extract({ modality: Modality.FACE, image: new Uint8Array([2]) }, { timeoutMs: 100 }));
    const patient = pool.extract({ modality: Modality.FACE, image: new Uint8Array([3]) }, { timeoutMs: 5_000 });
    const gone = await impatient;
    assert.ok(gone !== "OK" && gone.code === ErrorCode.DEADLINE_EXCEEDED);
    assert.equal(pool.queued, 1);
    await first;
    assert.equal((await patient).modelId, "slow");
    assert.equal(pool.queued, 0);
  } finally {
    pool.close();
  }
});
