import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ErrorCode, MatchingService, Modality, type EnrollStreamRequest } from "@taj/proto";
import { sharedTestPki } from "@taj/devcluster";
import { AppError, addService, channelCredentials, createClient, createLogger, serverCredentials, startGrpcServer, type CallContext, type ServiceImpl } from "../src/index.ts";

// The bidi path of grpc-service.ts and grpc-client.ts over real mutual TLS, with MatchingService's
// EnrollStream as the method (its other methods are unused here).
const logger = createLogger("test", "silent");
const pki = sharedTestPki();
const admin = channelCredentials(pki.admin);

interface Behaviour {
  enrollStream: (requests: AsyncIterable<EnrollStreamRequest>, ctx: CallContext) => AsyncIterable<{ item: bigint; id: string }>;
}

async function withServer(behaviour: Behaviour, fn: (address: string) => Promise<void>, allowedPeers?: readonly ("gateway" | "admin")[]): Promise<void> {
  const unused = async () => {
    throw new AppError(ErrorCode.INTERNAL, "unused");
  };
  const impl = Object.fromEntries(MatchingService.methods.map((m) => [m.localName, unused]));
  impl["enrollStream"] = behaviour.enrollStream as never;
  const server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    serviceNames: [MatchingService.typeName],
    credentials: serverCredentials(pki.issue("gateway", "bidi-test-gateway"), { requireClientCert: true }),
    register: (s) => addService(s, MatchingService, impl as unknown as ServiceImpl<typeof MatchingService.method>, logger, allowedPeers ? { allowedPeers } : {}),
  });
  try {
    await fn(`127.0.0.1:${server.port}`);
  } finally {
    await server.shutdown(100);
  }
}

const item = (n: number, image = new Uint8Array([n % 256])) => ({ item: BigInt(n), enroll: { modality: Modality.FACE, id: `r-${n}`, image } });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const x of it) all.push(x);
  return all;
}

test("bidi: every request is read and answered, in the order the handler yields, and the stream ends OK", async () => {
  await withServer({
    async *enrollStream(requests) {
      const held: EnrollStreamRequest[] = [];
      for await (const r of requests) {
        // Answer in pairs, second first: the responses need not follow the requests' order.
        held.push(r);
        if (held.length === 2) for (const h of held.splice(0).reverse()) yield { item: h.item, id: h.enroll?.id ?? "" };
      }
      for (const h of held) yield { item: h.item, id: h.enroll?.id ?? "" };
    },
  }, async (address) => {
    const client = createClient(MatchingService, address, admin);
    const call = client.enrollStream({ timeoutMs: 5_000 });
    for (let n = 1; n <= 5; n++) await call.write(item(n));
    call.end();
    const answers = await collect(call.responses);
    assert.deepEqual(answers.map((a) => [a.item, a.id]), [[2n, "r-2"], [1n, "r-1"], [4n, "r-4"], [3n, "r-3"], [5n, "r-5"]]);
    client.close();
  });
});

test("bidi: a handler's AppError ends the stream with its code after what was yielded; an internal error leaks nothing", async () => {
  await withServer({
    async *enrollStream(requests) {
      for await (const r of requests) {
        if (r.item === 3n) throw new AppError(ErrorCode.PERMISSION_DENIED, "needs the role enroll");
        if (r.item === 13n) throw new Error("secret internal detail /var/lib/x");
        yield { item: r.item, id: "" };
      }
    },
  }, async (address) => {
    const client = createClient(MatchingService, address, admin);
    const call = client.enrollStream({ timeoutMs: 5_000 });
    const seen: bigint[] = [];
    const reading = (async () => {
      for await (const r of call.responses) seen.push(r.item);
    })();
    for (const n of [1, 2, 3]) await call.write(item(n));
    await assert.rejects(reading, (e: unknown) => e instanceof AppError && e.code === ErrorCode.PERMISSION_DENIED && e.message === "needs the role enroll");
    assert.deepEqual(seen, [1n, 2n]);

    const leaky = client.enrollStream({ timeoutMs: 5_000 });
    await leaky.write(item(13));
    await assert.rejects(collect(leaky.responses), (e: unknown) => e instanceof AppError && e.code === ErrorCode.INTERNAL && !e.message.includes("secret"));
    client.close();
  });
});

test("bidi: a handler that stops reading holds the client's writes back (flow control), and they go on once it reads again", async () => {
  let release: () => void = () => {};
  const released = new Promise<void>((r) => (release = r));
  let read = 0;
  await withServer({
    async *enrollStream(requests) {
      for await (const r of requests) {
        read++;
        if (read === 1) await released;
        yield { item: r.item, id: "" };
      }
    },
  }, async (address) => {
    const client = createClient(MatchingService, address, admin);
    const call = client.enrollStream({ timeoutMs: 20_000 });
    const big = new Uint8Array(256 * 1024);
    const TOTAL = 64; // 16 MiB: far beyond the transport's windows and buffers
    let written = 0;
    const writing = (async () => {
      for (let n = 1; n <= TOTAL; n++) {
        await call.write(item(n, big));
        written++;
      }
      call.end();
    })();
    const answers = collect(call.responses);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(read, 1, "the handler read only the first request");
    assert.ok(written < TOTAL / 2, `the client's writes were held back (${written} of ${TOTAL} taken)`);
    release();
    await writing;
    assert.equal((await answers).length, TOTAL);
    assert.equal(read, TOTAL);
    client.close();
  });
});

test("bidi: the client cancelling aborts the handler's signal and ends its reading", async () => {
  let aborted: () => void = () => {};
  const abortSeen = new Promise<void>((r) => (aborted = r));
  let ended: () => void = () => {};
  const handlerDone = new Promise<void>((r) => (ended = r));
  await withServer({
    async *enrollStream(requests, ctx) {
      ctx.signal.addEventListener("abort", () => aborted());
      try {
        for await (const r of requests) yield { item: r.item, id: "" };
      } catch {
        // The cancelled call's readable side is destroyed: the reading loop ends, with an error.
      } finally {
        ended();
      }
    },
  }, async (address) => {
    const client = createClient(MatchingService, address, admin);
    const call = client.enrollStream({ timeoutMs: 5_000 });
    await call.write(item(1));
    const first = await call.responses[Symbol.asyncIterator]().next();
    assert.equal(first.done ? undefined : first.value.item, 1n);
    call.cancel();
    // Both, whatever their order (grpc-js may end the readable side before it emits "cancelled");
    // a handler left reading would time the test out.
    await Promise.all([handlerDone, abortSeen]);
    client.close();
  });
});

test("bidi: a peer kind the service does not admit gets PERMISSION_DENIED before the handler runs", async () => {
  let ran = false;
  await withServer({
    // eslint-disable-next-line require-yield -- refused before it could yield
    async *enrollStream() {
      ran = true;
    },
  }, async (address) => {
    const shard = channelCredentials(pki.issue("shard", "bidi-test-shard"));
    const client = createClient(MatchingService, address, shard);
    const call = client.enrollStream({ timeoutMs: 5_000 });
    call.end();
    await assert.rejects(collect(call.responses), (e: unknown) => e instanceof AppError && e.code === ErrorCode.PERMISSION_DENIED);
    assert.equal(ran, false);
    client.close();
  }, ["gateway", "admin"]);
});

test("bidi: bytes that are not a request end the stream INVALID_ARGUMENT (they carry no item to answer by)", async () => {
  await withServer({
    async *enrollStream(requests) {
      for await (const r of requests) yield { item: r.item, id: "" };
    },
  }, async (address) => {
    const Ctor = grpc.makeGenericClientConstructor({
      enrollStream: {
        path: `/${MatchingService.typeName}/EnrollStream`, requestStream: true, responseStream: true,
        requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
      },
    }, "Raw");
    const raw = new Ctor(address, admin);
    const call = (raw as unknown as { enrollStream(): grpc.ClientDuplexStream<Buffer, Buffer> }).enrollStream();
    // Field 1 as a length-delimited wire type, with a length past the end: not a message.
    call.write(Buffer.from([0x0a, 0x7f, 0x01]));
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on("data", () => undefined);
      call.on("error", () => undefined);
      call.on("status", resolve);
    });
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /not a valid taj\.v1\.EnrollStreamRequest/);
    raw.close();
  });
});
