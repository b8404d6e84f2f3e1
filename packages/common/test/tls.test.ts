import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect as tlsConnect } from "node:tls";
import { connect as netConnect } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { z } from "zod";
import { ErrorCode, Modality, ShardService } from "@taj/proto";
import { createPki, sharedTestPki } from "@taj/devcluster";
import {
  ALLOWED_PEERS, AppError, addService, channelCredentials, commonEnv, createClient, createLogger, serverCredentials, startGrpcServer,
  type GrpcServer, type TlsFiles,
} from "../src/index.ts";

// Real certificates from the devcluster's PKI (openssl), a real grpc-js server on port 0.
const logger = createLogger("test", "silent");
const pki = sharedTestPki();
const serverFiles: TlsFiles = { ...pki.issue("shard", "tls-test-shard"), reloadIntervalMs: 200 };
let server: GrpcServer;
let address: string;
let calls = 0;

before(async () => {
  server = await startGrpcServer({
    host: "127.0.0.1",
    port: 0,
    logger,
    serviceNames: [ShardService.typeName],
    credentials: serverCredentials(serverFiles, { requireClientCert: true }),
    register: (s) =>
      addService(s, ShardService, {
        shardSearch: async () => ({ hits: [] }),
        shardStatus: async () => ({ shardId: "s1", site: "a" }),
        listTemplates: async () => {
          calls++;
          return { ids: ["rec-1"] };
        },
      }, logger, { allowedPeers: ALLOWED_PEERS.shard }),
  });
  address = `127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.shutdown(100);
});

const isCode = (code: ErrorCode) => (err: unknown) => err instanceof AppError && err.code === code;
const list = (files: TlsFiles) => {
  const client = createClient(ShardService, address, channelCredentials(files));
  return client.listTemplates({ modality: Modality.FACE, partition: 0 }, { timeoutMs: 3_000 }).finally(() => client.close());
};

test("an allowed peer kind (coordinator, admin) is served", async () => {
  assert.deepEqual((await list(pki.issue("coordinator", "tls-test-coordinator"))).ids, ["rec-1"]);
  assert.deepEqual((await list(pki.admin)).ids, ["rec-1"]);
});

test("a wrong peer kind gets PERMISSION_DENIED before the handler runs", async () => {
  const before = calls;
  for (const kind of ["gateway", "extractor", "client", "shard"] as const) {
    await assert.rejects(list(pki.issue(kind, `tls-test-${kind}`)), isCode(ErrorCode.PERMISSION_DENIED), kind);
  }
  assert.equal(calls, before, "no refused call reached the handler");
});

test("health stays callable by any certificate of the CA, even a kind the service refuses", async () => {
  const Ctor = grpc.makeGenericClientConstructor({}, "x");
  const raw = new Ctor(address, channelCredentials(pki.issue("gateway", "tls-test-gateway")));
  const reply = await new Promise<Buffer>((resolve, reject) => {
    raw.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!)));
  });
  raw.close();
  assert.deepEqual([...reply], [0x08, 0x01], "SERVING");
});

test("a certificate from another CA is refused at the handshake", async () => {
  const other = createPki(mkdtempSync(join(tmpdir(), "taj-other-ca-")));
  await assert.rejects(list(other.issue("coordinator", "impostor")), isCode(ErrorCode.UNAVAILABLE));
});

test("a caller without a client certificate cannot finish the handshake", async () => {
  const noCert = grpc.credentials.createSsl(readFileSync(pki.caFile));
  const client = createClient(ShardService, address, noCert);
  await assert.rejects(client.listTemplates({ modality: Modality.FACE, partition: 0 }, { timeoutMs: 3_000 }), isCode(ErrorCode.UNAVAILABLE));
  client.close();
});

test("plaintext HTTP/2 is refused", async () => {
  const Ctor = grpc.makeGenericClientConstructor({}, "x");
  const raw = new Ctor(address, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError>((resolve) => {
    raw.makeUnaryRequest("/grpc.health.v1.Health/Check", (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), { deadline: Date.now() + 3_000 }, (e) => resolve(e as grpc.ServiceError));
  });
  raw.close();
  assert.equal(err.code, grpc.status.UNAVAILABLE);
});

test("a service without TLS files does not start: the variables are required", () => {
  const parsed = z.object(commonEnv).safeParse({});
  assert.equal(parsed.success, false);
  const missing = parsed.error!.issues.map((i) => i.path.join("."));
  for (const key of ["TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"]) assert.ok(missing.includes(key), key);
});

test("insecure credentials are refused by startGrpcServer and createClient", async () => {
  await assert.rejects(
    startGrpcServer({ host: "127.0.0.1", port: 0, logger, serviceNames: [], register: () => {}, credentials: grpc.ServerCredentials.createInsecure() }),
    /insecure credentials are refused/,
  );
  assert.throws(() => createClient(ShardService, address, grpc.credentials.createInsecure()), /insecure credentials are refused/);
});

/** The serial of the certificate the server presents to a new TLS connection. */
function presentedSerial(files: TlsFiles): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: "127.0.0.1", port: server.port, ALPNProtocols: ["h2"],
      ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile),
    }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.on("error", reject);
  });
}

test("a re-issued server certificate is presented to new connections without a restart", async () => {
  const before = await presentedSerial(pki.admin);
  pki.reissue("shard", "tls-test-shard");
  const expected = readFileSync(serverFiles.certFile);
  const { X509Certificate } = await import("node:crypto");
  const newSerial = new X509Certificate(expected).serialNumber;
  assert.notEqual(newSerial, before, "reissue made a new serial");
  let seen = before;
  for (let i = 0; i < 50 && seen !== newSerial; i++) {
    await new Promise((r) => setTimeout(r, 100));
    seen = await presentedSerial(pki.admin);
  }
  assert.equal(seen, newSerial, "new connections get the new certificate");
  assert.deepEqual((await list(pki.admin)).ids, ["rec-1"], "and calls still succeed");
});

test("a raw TCP connection that speaks plaintext is closed without an answer", async () => {
  const answer = await new Promise<string>((resolve) => {
    const socket = netConnect(server.port, "127.0.0.1", () => socket.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    let got = "";
    socket.on("data", (d: Buffer) => (got += d.toString("latin1")));
    socket.on("close", () => resolve(got));
    socket.on("error", () => undefined);
    setTimeout(() => socket.destroy(), 3_000);
  });
  assert.ok(!answer.includes("HTTP/2") && !answer.includes("grpc"), "no HTTP/2 frames came back in plaintext");
});
