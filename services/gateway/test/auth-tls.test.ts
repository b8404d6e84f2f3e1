import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { MatchingService, ErrorCode, type Principal } from "@taj/proto";
import { AppError, addService, createClient, createLogger, serverCredentials, startGrpcServer, type CallContext, type GrpcServer, type ServiceImpl } from "@taj/common";
import { LocalIssuer, bearerMetadata } from "@taj/devcluster";
import { authorize, createCallGate, type GatewayRpc } from "../src/auth/index.ts";
import { TLS_ENV_PLACEHOLDERS } from "./fixtures/tls.ts";
import { GatewayConfig } from "../src/config.ts";
import { TestPki } from "./fixtures/certificates.ts";

/**
 * The certificate path end to end over real TLS, as the public port will run it: the server asks
 * for a client certificate but neither requires nor checks it (people come with tokens), so
 * grpc-js hands any presented certificate to the handler, and the gateway's own check is the only
 * one. A tiny MatchingService whose every method is the gate + authorize stands in for the
 * gateway (which serves plaintext in this branch).
 */
const silent = createLogger("test", "silent");
let pki: TestPki;
let dir: string;
let issuer: LocalIssuer;
let server: GrpcServer;
let seen: Principal | undefined;

before(async () => {
  pki = new TestPki();
  const clientCa = pki.ca("clients");
  pki.ca("other");
  pki.ca("servers");
  pki.leaf("servers", "gateway", { cn: "gateway-a", extensions: "server" });
  pki.leaf("clients", "taj", { cn: "taj-system" });
  pki.leaf("clients", "unlisted", { cn: "unlisted-system" });
  pki.leaf("other", "intruder", { cn: "taj-system" });
  pki.leaf("clients", "expired", { cn: "taj-system", startDate: "20200101000000Z", endDate: "20200201000000Z" });
  dir = mkdtempSync(join(tmpdir(), "taj-auth-tls-"));
  issuer = await LocalIssuer.open(dir);
  const config = GatewayConfig.parse({
    ...TLS_ENV_PLACEHOLDERS, SITE: "a", EXTRACTOR_ADDRESSES: "127.0.0.1:1", COORDINATOR_ADDRESSES: "127.0.0.1:2", NATS_URLS: "nats://127.0.0.1:3", ETCD_ENDPOINTS: "http://127.0.0.1:4",
    CLIENT_CA_FILE: clientCa, CLIENT_CERT_ROLES: "taj-system=search+enroll", ...issuer.gatewayEnv(),
  });
  const gate = createCallGate(config, silent);
  const guarded = (rpc: GatewayRpc) => async (_req: unknown, ctx: CallContext) => {
    seen = await gate.admit(ctx);
    authorize(seen, rpc);
    return {};
  };
  // A stream that admits its caller and then answers nothing.
  const guardedStream = (rpc: GatewayRpc) => async function* (_requests: AsyncIterable<unknown>, ctx: CallContext) {
    await guarded(rpc)(undefined, ctx);
    yield* [];
  };
  const impl = Object.fromEntries(MatchingService.methods.map((m) => [m.localName, (m.methodKind === "bidi_streaming" ? guardedStream : guarded)(m.name as GatewayRpc)]));
  // The gateway's own server credentials: its identity from the servers' CA, client certificates
  // requested (not required) and checked against the clients' CA, a different one.
  const credentials = serverCredentials(
    { caFile: pki.file("servers.crt"), certFile: pki.file("gateway.crt"), keyFile: pki.file("gateway.key"), reloadIntervalMs: 60_000 },
    { requireClientCert: false, clientCaFile: clientCa },
  );
  server = await startGrpcServer({
    host: "127.0.0.1", port: 0, logger: silent, serviceNames: [MatchingService.typeName], credentials,
    register: (s) => addService(s, MatchingService, impl as unknown as ServiceImpl<typeof MatchingService.method>, silent),
  });
  // The certificate providers read their files asynchronously: handshakes fail until they have.
  for (let i = 0; i < 50 && (await outcome(undefined, "stats")) === "UNAVAILABLE"; i++) await new Promise((r) => setTimeout(r, 100));
});

after(async () => {
  await server?.shutdown(100);
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function clientWith(cert?: string) {
  const ca = readFileSync(pki.file("servers.crt"));
  const creds = cert
    ? grpc.credentials.createSsl(ca, readFileSync(pki.file(`${cert}.key`)), readFileSync(pki.file(`${cert}.crt`)))
    : grpc.credentials.createSsl(ca);
  return createClient(MatchingService, `127.0.0.1:${server.port}`, creds);
}

async function outcome(cert: string | undefined, rpc: "search" | "stats", metadata?: grpc.Metadata): Promise<string> {
  const client = clientWith(cert);
  seen = undefined;
  try {
    await client[rpc]({}, { timeoutMs: 5_000, ...(metadata ? { metadata } : {}) });
    return "OK";
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return ErrorCode[err.code] ?? "?";
  } finally {
    client.close();
  }
}

test("over TLS: a certificate from the clients' CA is the principal cert:<CN> with its roles", async () => {
  assert.equal(await outcome("taj", "search"), "OK");
  assert.equal(seen?.id, "cert:taj-system");
  assert.equal(await outcome("taj", "stats"), "PERMISSION_DENIED");
  assert.equal(await outcome("unlisted", "search"), "PERMISSION_DENIED");
  assert.equal(seen?.id, "cert:unlisted-system");
});

test("over TLS: a certificate of another CA or an expired one is no identity: refused alone, beside a token the token decides", async () => {
  assert.equal(await outcome("intruder", "search"), "UNAUTHENTICATED");
  assert.equal(await outcome("expired", "search"), "UNAUTHENTICATED");
  // The handshake could not verify it, so the handlers never see it (grpc-js shows only verified
  // certificates): the call is a token caller's.
  assert.equal(await outcome("intruder", "search", await issuer.metadata({ sub: "inspector-8", roles: ["search"] })), "OK");
  assert.equal(seen?.id, "oidc:inspector-8");
});

test("over TLS without a client certificate: a token authenticates, nothing else does", async () => {
  assert.equal(await outcome(undefined, "search"), "UNAUTHENTICATED");
  assert.equal(await outcome(undefined, "search", await issuer.metadata({ sub: "inspector-7", roles: ["search"] })), "OK");
  assert.equal(seen?.id, "oidc:inspector-7");
  assert.equal(await outcome(undefined, "search", bearerMetadata("x.y.z")), "UNAUTHENTICATED");
  // A certificate and a token in one call: refused, one call has one identity.
  assert.equal(await outcome("taj", "search", await issuer.metadata({ sub: "inspector-7", roles: ["search"] })), "UNAUTHENTICATED");
});
