import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PeerCertificate } from "node:tls";
import { Metadata } from "@grpc/grpc-js";
import { SignJWT } from "jose";
import { ErrorCode, PrincipalKind, Role } from "@taj/proto";
import { AppError, createLogger, type CallContext } from "@taj/common";
import { LocalIssuer } from "@taj/devcluster";
import { createAuthenticator, type Authenticator } from "../src/auth/index.ts";
import { TLS_ENV_PLACEHOLDERS } from "./fixtures/tls.ts";
import { GatewayConfig } from "../src/config.ts";
import { TestPki } from "./fixtures/certificates.ts";

const silent = createLogger("test", "silent");
let pki: TestPki;
let dir: string;
let issuer: LocalIssuer;
let stranger: LocalIssuer;
let auth: Authenticator;
const certs: Record<string, Buffer> = {};

function ctxWith(options: { token?: string; header?: string | string[]; cert?: Buffer }): CallContext {
  const metadata = new Metadata();
  if (options.token !== undefined) metadata.set("authorization", `Bearer ${options.token}`);
  for (const h of [options.header ?? []].flat()) metadata.add("authorization", h);
  return {
    deadline: Infinity,
    signal: new AbortController().signal,
    metadata,
    // The shape node's TLS socket gives: the DER in `raw` (the rest is what node parsed, unused).
    peerCertificate: options.cert ? ({ raw: options.cert } as PeerCertificate) : undefined,
    peerAddress: "127.0.0.1:50000",
    malformedRequest: undefined,
  };
}

async function refused(ctx: CallContext, code = ErrorCode.UNAUTHENTICATED): Promise<AppError> {
  let caught: unknown;
  await auth.authenticate(ctx).catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof AppError, `expected ${ErrorCode[code]}, got ${String(caught)}`);
  assert.equal(ErrorCode[caught.code], ErrorCode[code], caught.message);
  return caught;
}

const config = (env: Record<string, string>) => GatewayConfig.parse({
  ...TLS_ENV_PLACEHOLDERS, SITE: "a", EXTRACTOR_ADDRESSES: "127.0.0.1:1", COORDINATOR_ADDRESSES: "127.0.0.1:2", NATS_URLS: "nats://127.0.0.1:3", ETCD_ENDPOINTS: "http://127.0.0.1:4", ...env,
});

before(async () => {
  pki = new TestPki();
  const caFile = pki.ca("ca");
  pki.ca("other");
  // Same subject name as the trusted CA, another key: passes a name check, fails the signature.
  pki.ca("forger", "/O=TAJ/CN=ca");
  certs.valid = pki.leaf("ca", "valid", { cn: "taj-system" });
  certs.unmapped = pki.leaf("ca", "unmapped", { cn: "some-system" });
  certs.otherCa = pki.leaf("other", "other-ca", { cn: "taj-system" });
  certs.forged = pki.leaf("forger", "forged", { cn: "taj-system" });
  certs.expired = pki.leaf("ca", "expired", { cn: "taj-system", startDate: "20200101000000Z", endDate: "20200201000000Z" });
  certs.future = pki.leaf("ca", "future", { cn: "taj-system", startDate: "20990101000000Z", endDate: "20990201000000Z" });
  certs.serverOnly = pki.leaf("ca", "server-only", { cn: "taj-system", extensions: "server_only" });
  certs.badCn = pki.leaf("ca", "bad-cn", { cn: "taj system" });
  certs.ca = pki.der("ca");
  dir = mkdtempSync(join(tmpdir(), "taj-auth-"));
  issuer = await LocalIssuer.open(dir);
  stranger = await LocalIssuer.open(join(dir, "stranger"));
  auth = createAuthenticator(
    config({ CLIENT_CA_FILE: caFile, CLIENT_CERT_ROLES: "taj-system=search+enroll; tajctl=admin+audit", ...issuer.gatewayEnv() }),
    silent,
  );
});

after(() => {
  pki?.remove();
  rmSync(dir, { recursive: true, force: true });
});

test("a client certificate from the trusted CA names the principal; its roles come from CLIENT_CERT_ROLES", async () => {
  const p = await auth.authenticate(ctxWith({ cert: certs.valid! }));
  assert.equal(p.id, "cert:taj-system");
  assert.equal(p.kind, PrincipalKind.CERTIFICATE);
  assert.deepEqual(p.roles, [Role.SEARCH, Role.ENROLL]);
  // Valid but not listed: authenticated, with no role (every RPC then answers PERMISSION_DENIED).
  const unmapped = await auth.authenticate(ctxWith({ cert: certs.unmapped! }));
  assert.deepEqual([unmapped.id, unmapped.roles], ["cert:some-system", []]);
});

test("certificates not from the trusted CA, outside their validity, for another use or a CA itself are refused", async () => {
  assert.match((await refused(ctxWith({ cert: certs.otherCa! }))).message, /not signed by a trusted CA/);
  assert.match((await refused(ctxWith({ cert: certs.forged! }))).message, /not signed by a trusted CA/);
  assert.match((await refused(ctxWith({ cert: certs.expired! }))).message, /expired or not yet valid/);
  assert.match((await refused(ctxWith({ cert: certs.future! }))).message, /expired or not yet valid/);
  assert.match((await refused(ctxWith({ cert: certs.serverOnly! }))).message, /not for client authentication/);
  assert.match((await refused(ctxWith({ cert: certs.badCn! }))).message, /CN/);
  await refused(ctxWith({ cert: certs.ca! }));
  await refused(ctxWith({ cert: Buffer.from("not a certificate") }));
});

test("the CA file is re-read when it changes: after a CA rotation, the old CA's certificates (even ones seen before) are refused", async () => {
  const caFile = join(dir, "rotating-ca.pem");
  cpSync(pki.file("ca.crt"), caFile);
  const rotating = createAuthenticator(config({ CLIENT_CA_FILE: caFile, CLIENT_CERT_ROLES: "taj-system=search" }), silent);
  assert.equal((await rotating.authenticate(ctxWith({ cert: certs.valid! }))).id, "cert:taj-system");
  assert.equal((await rotating.authenticate(ctxWith({ cert: certs.valid! }))).id, "cert:taj-system", "remembered");
  await assert.rejects(rotating.authenticate(ctxWith({ cert: certs.otherCa! })));
  cpSync(pki.file("other.crt"), caFile);
  await new Promise((r) => setTimeout(r, 1_100)); // the file is checked at most once a second
  await assert.rejects(rotating.authenticate(ctxWith({ cert: certs.valid! })), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAUTHENTICATED);
  assert.equal((await rotating.authenticate(ctxWith({ cert: certs.otherCa! }))).id, "cert:taj-system");
});

test("a valid token names the principal oidc:<sub> with its roles; unknown role names are ignored", async () => {
  const token = await issuer.token({ sub: "inspector-7", roles: ["search", "audit", "superuser"] });
  const p = await auth.authenticate(ctxWith({ token }));
  assert.equal(p.id, "oidc:inspector-7");
  assert.equal(p.kind, PrincipalKind.TOKEN);
  assert.deepEqual(p.roles, [Role.SEARCH, Role.AUDIT]);
  assert.deepEqual((await auth.authenticate(ctxWith({ token: await issuer.token({ sub: "nobody" }) }))).roles, []);
});

test("expired, foreign-key, wrong issuer or audience, unsigned, HMAC and garbage tokens are refused without echoing them", async () => {
  const cases: Array<[string, string, RegExp]> = [
    ["expired", await issuer.token({ sub: "i", roles: ["search"], expiresInS: -120 }), /expired/],
    ["wrong key", await stranger.token({ sub: "i", roles: ["search"] }), /signature/],
    ["wrong issuer", await issuer.token({ sub: "i", roles: ["search"], issuer: "https://evil.example" }), /iss/],
    ["wrong audience", await issuer.token({ sub: "i", roles: ["search"], audience: "other-service" }), /aud/],
    ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "i", roles: ["admin"], iss: issuer.issuer, aud: issuer.audience, exp: 9e9 })}.`, /not a signed JWT/],
    [
      "HS256",
      await new SignJWT({ roles: ["admin"] }).setProtectedHeader({ alg: "HS256" }).setSubject("i").setIssuer(issuer.issuer).setAudience(issuer.audience).setExpirationTime("1h").sign(new TextEncoder().encode("x".repeat(32))),
      /algorithm/,
    ],
    ["garbage", "abc.def.ghi", /not valid/],
    ["no sub", await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode("y".repeat(32))), /./],
  ];
  for (const [name, token, message] of cases) {
    const err = await refused(ctxWith({ token }));
    assert.match(err.message, message, name);
    for (const part of token.split(".").filter((p) => p.length > 8)) assert.ok(!err.message.includes(part), `${name}: the message echoes the token`);
  }
  // A roles claim forged into a token signed by another key gives nothing.
  await refused(ctxWith({ token: await stranger.token({ sub: "root-admin", roles: ["admin", "audit"] }) }));
});

test("no credentials, a malformed header, two headers or two identities are refused; x-taj-user is no identity", async () => {
  assert.match((await refused(ctxWith({}))).message, /no credentials/);
  const spoof = ctxWith({});
  spoof.metadata.set("x-taj-user", "root-admin-spoofed");
  await refused(spoof);
  await refused(ctxWith({ header: "Basic dXNlcjpwYXNz" }));
  await refused(ctxWith({ header: "Bearer" }));
  const token = await issuer.token({ sub: "i", roles: ["search"] });
  await refused(ctxWith({ header: [`Bearer ${token}`, `Bearer ${token}`] }));
  assert.match((await refused(ctxWith({ token, cert: certs.valid! }))).message, /not both/);
});

test("a nested roles claim is read through OIDC_ROLES_CLAIM", async () => {
  const nested = createAuthenticator(config({ ...issuer.gatewayEnv(), OIDC_ROLES_CLAIM: "realm_access.roles" }), silent);
  const token = await issuer.token({ sub: "k", claims: { realm_access: { roles: ["enroll"] }, roles: ["admin"] } });
  assert.deepEqual((await nested.authenticate(ctxWith({ token }))).roles, [Role.ENROLL]);
  // Certificates are not accepted when no CLIENT_CA_FILE is set.
  await assert.rejects(nested.authenticate(ctxWith({ cert: certs.valid! })), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAUTHENTICATED);
});

test("the JWKS file is re-read when it changes: a rotated key takes effect without a restart", async () => {
  const jwksFile = join(dir, "rotating-jwks.json");
  cpSync(issuer.jwksFile, jwksFile);
  const rotating = createAuthenticator(config({ OIDC_JWKS_FILE: jwksFile, OIDC_ISSUER: issuer.issuer, OIDC_AUDIENCE: issuer.audience }), silent);
  const oldToken = await issuer.token({ sub: "a", roles: ["search"] });
  const newToken = await stranger.token({ sub: "b", roles: ["search"] });
  assert.equal((await rotating.authenticate(ctxWith({ token: oldToken }))).id, "oidc:a");
  await assert.rejects(rotating.authenticate(ctxWith({ token: newToken })));
  writeFileSync(jwksFile, readFileSync(stranger.jwksFile));
  await new Promise((r) => setTimeout(r, 1_100)); // the file is checked at most once a second
  assert.equal((await rotating.authenticate(ctxWith({ token: newToken }))).id, "oidc:b");
  await assert.rejects(rotating.authenticate(ctxWith({ token: oldToken })));
  // A broken file during a rotation keeps the last good keys rather than locking everyone out.
  writeFileSync(jwksFile, "{ half written");
  await new Promise((r) => setTimeout(r, 1_100));
  assert.equal((await rotating.authenticate(ctxWith({ token: newToken }))).id, "oidc:b");
});

test("OIDC_JWKS_URL: keys fetched from the identity provider; an unreachable one is UNAVAILABLE, not the caller's fault", async () => {
  const jwks = readFileSync(issuer.jwksFile);
  const server = createServer((_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(jwks));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  try {
    const remote = createAuthenticator(config({ OIDC_JWKS_URL: `http://127.0.0.1:${port}/jwks`, OIDC_ISSUER: issuer.issuer, OIDC_AUDIENCE: issuer.audience }), silent);
    assert.equal((await remote.authenticate(ctxWith({ token: await issuer.token({ sub: "r", roles: ["search"] }) }))).id, "oidc:r");
    await assert.rejects(remote.authenticate(ctxWith({ token: await stranger.token({ sub: "r" }) })), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAUTHENTICATED);
  } finally {
    await new Promise((r) => server.close(r));
  }
  // The port is closed now: nothing answers there.
  const dead = createAuthenticator(config({ OIDC_JWKS_URL: `http://127.0.0.1:${port}/jwks`, OIDC_ISSUER: issuer.issuer, OIDC_AUDIENCE: issuer.audience }), silent);
  await assert.rejects(dead.authenticate(ctxWith({ token: await issuer.token({ sub: "r" }) })), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAVAILABLE);
});

test("configuration: no way to authenticate, half an OIDC setup, bad role maps are refused at start", () => {
  const issues = (env: Record<string, string>) => {
    const r = GatewayConfig.safeParse({ ...TLS_ENV_PLACEHOLDERS, SITE: "a", EXTRACTOR_ADDRESSES: "h:1", COORDINATOR_ADDRESSES: "h:2", NATS_URLS: "nats://h:3", ETCD_ENDPOINTS: "http://h:4", ...env });
    return r.success ? [] : [...new Set(r.error.issues.map((i) => String(i.path[0])))];
  };
  assert.deepEqual(issues({}), ["CLIENT_CA_FILE"]);
  assert.deepEqual(issues({ OIDC_JWKS_FILE: "/x" }), ["OIDC_ISSUER"]);
  assert.deepEqual(issues({ OIDC_JWKS_FILE: "/x", OIDC_JWKS_URL: "https://idp/jwks", OIDC_ISSUER: "i", OIDC_AUDIENCE: "a" }), ["OIDC_JWKS_URL"]);
  assert.deepEqual(issues({ CLIENT_CA_FILE: "/ca", CLIENT_CERT_ROLES: "taj=search+root" }), ["CLIENT_CERT_ROLES"]);
  assert.deepEqual(issues({ CLIENT_CA_FILE: "/ca", CLIENT_CERT_ROLES: "a=search;a=enroll" }), ["CLIENT_CERT_ROLES"]);
  assert.deepEqual(issues({ CLIENT_CA_FILE: "/ca", OIDC_ALGORITHMS: "HS256" }), ["OIDC_ALGORITHMS"]);
  assert.deepEqual(issues({ CLIENT_CA_FILE: "/ca", CLIENT_CERT_ROLES: "taj-system=search+enroll;tajctl=" }), []);
  const parsed = config({ CLIENT_CA_FILE: "/ca", CLIENT_CERT_ROLES: "taj-system=search+enroll;tajctl=" });
  assert.deepEqual([...parsed.CLIENT_CERT_ROLES], [["taj-system", [Role.SEARCH, Role.ENROLL]], ["tajctl", []]]);
});

function b64(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
