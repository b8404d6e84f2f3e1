// "Bad credentials": calls without an identity, with a certificate of another CA, with bearer
// tokens the gateway must refuse (expired, not yet valid, another key, wrong audience or issuer,
// alg none, HMAC, tampered, truncated, bit-flipped, garbage), with malformed authorization
// headers, with a certificate and a token together, and valid identities without the RPC's role.
// The tokens are minted once before the run (signing is async, a generator is not); the
// generator only picks and mutates them.
import { createHmac } from "node:crypto";
import type { LocalIssuer } from "@taj/devcluster";
import { AUTH_FAILED, baseBody, type FuzzCase, type GenContext, type Generator } from "./cases.ts";
import type { MetadataValue, Profile } from "./client.ts";
import { FACE, METHODS, RPCS, recordBody, type Rpc } from "./requests.ts";

/** Tokens made before the run, and records that exist (a Delete of one must be refused, not done). */
export interface CredentialMaterial {
  /** The default caller's token (roles search, enroll, admin). */
  valid: string;
  /** Valid signature and claims, but no role the gateway knows. */
  noRoles: readonly string[];
  /** Tokens that must fail authentication, each with what is wrong with it. */
  refused: ReadonlyArray<{ token: string; note: string }>;
  /** Ids of enrolled records. */
  enrolledIds: readonly string[];
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * Mints every token of the category: `issuer` is the cluster's, `foreign` one with another key
 * under the same kid (so the gateway finds "its" key and the signature check must fail).
 */
export async function credentialMaterial(issuer: LocalIssuer, foreign: LocalIssuer, valid: string, enrolledIds: readonly string[]): Promise<CredentialMaterial> {
  const roles = ["search", "enroll", "admin", "audit"];
  const sub = "fuzz-intruder";
  const [, payload = ""] = valid.split(".");
  const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
  const refused: Array<{ token: string; note: string }> = [
    { token: await issuer.token({ sub, roles, expiresInS: -3600 }), note: "expired an hour ago" },
    { token: await issuer.token({ sub, roles, expiresInS: -120 }), note: "expired beyond the clock tolerance" },
    { token: await issuer.token({ sub, roles, expiresInS: -400 * 86400 }), note: "expired a year ago" },
    { token: await issuer.token({ sub, roles, claims: { nbf: Math.floor(Date.now() / 1000) + 3600 } }), note: "not valid before an hour from now" },
    { token: await foreign.token({ sub, roles }), note: "signed by another issuer's key" },
    { token: await foreign.token({ sub: "fuzz", roles }), note: "another key, the default caller's sub" },
    { token: await issuer.token({ sub, roles, audience: "another-service" }), note: "wrong audience" },
    { token: await issuer.token({ sub, roles, issuer: "https://evil.example" }), note: "wrong issuer" },
    { token: await issuer.token({ sub, roles, issuer: `${issuer.issuer}/` }), note: "issuer with a trailing slash" },
    { token: await issuer.token({ sub: "a b", roles }), note: "sub with a space" },
    { token: await issuer.token({ sub: "x".repeat(200), roles }), note: "sub of 200 characters" },
    { token: `${b64({ alg: "none", typ: "JWT" })}.${payload}.`, note: "alg none, no signature" },
    { token: `${b64({ alg: "none", typ: "JWT" })}.${payload}.AAAA`, note: "alg none, a signature" },
    { token: hs256(payload, JSON.stringify({ kid: "taj-local-1" })), note: "HS256 with a guessable secret" },
    { token: `${valid.split(".")[0]}.${b64({ ...claims, roles, sub: "admin" })}.${valid.split(".")[2]}`, note: "payload swapped, signature kept" },
    { token: `${valid.split(".")[0]}.${payload}`, note: "no signature segment" },
    { token: `${valid}.${valid.split(".")[2]}`, note: "four segments" },
    { token: "A".repeat(9000), note: "longer than any token" },
  ];
  return {
    valid,
    noRoles: [
      await issuer.token({ sub: "fuzz-no-roles" }),
      await issuer.token({ sub: "fuzz-empty-roles", roles: [] }),
      await issuer.token({ sub: "fuzz-unknown-roles", roles: ["ADMIN", "root", "superuser", "search "] }),
      await issuer.token({ sub: "fuzz-nested-roles", claims: { realm_access: { roles } } }),
    ],
    refused,
    enrolledIds,
  };
}

function hs256(payload: string, secret: string): string {
  const head = b64({ alg: "HS256", typ: "JWT", kid: "taj-local-1" });
  return `${head}.${payload}.${createHmac("sha256", secret).update(`${head}.${payload}`).digest("base64url")}`;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A valid token broken by the generator: cut, one character changed, segments dropped or shuffled. */
function brokenToken(ctx: GenContext, valid: string): { token: string; note: string } {
  const rng = ctx.rng;
  switch (rng.int(0, 3)) {
    case 0: return { token: valid.slice(0, rng.int(1, valid.length - 1)), note: "truncated" };
    case 1: {
      // Never the last character: its low bits may be padding, so changing it may change nothing.
      const at = rng.int(0, valid.length - 2);
      if (valid[at] === ".") return { token: `${valid.slice(0, at)}${valid.slice(at + 1)}`, note: "a dot removed" };
      const others = B64URL.replace(valid[at]!, "");
      return { token: `${valid.slice(0, at)}${others[rng.int(0, others.length - 1)]}${valid.slice(at + 1)}`, note: `character ${at} changed` };
    }
    case 2: {
      const [h, p, s] = valid.split(".");
      return rng.pick([
        { token: `${p}.${h}.${s}`, note: "header and payload swapped" },
        { token: `${h}.${p}.${s!.split("").reverse().join("")}`, note: "signature reversed" },
        { token: `${h}..${s}`, note: "empty payload" },
        { token: `${h}.${p}.${Buffer.from(s!, "base64url").toString("base64")}`, note: "signature in base64, not base64url" },
      ]);
    }
    default: {
      const seg = () => Array.from({ length: rng.int(1, 200) }, () => B64URL[rng.int(0, 63)]).join("");
      return rng.chance(0.5) ? { token: `${seg()}.${seg()}.${seg()}`, note: "random segments" } : { token: seg(), note: "random characters" };
    }
  }
}

/** A request body of the RPC; for Delete sometimes an enrolled record's id, which must survive. */
function bodyFor(ctx: GenContext, m: CredentialMaterial, rpc: Rpc): Buffer {
  if (rpc === "Delete" && ctx.rng.chance(0.5)) return recordBody(FACE, ctx.rng.pick(m.enrolledIds));
  if (rpc === "Get" && ctx.rng.chance(0.5)) return recordBody(FACE, ctx.rng.pick(m.enrolledIds));
  if ((METHODS as readonly string[]).includes(rpc)) return baseBody(ctx, rpc as (typeof METHODS)[number]);
  return Buffer.alloc(0); // RecordFeedback, QueryAudit, FeedbackSummary: the empty message parses
}

/** Any body, sometimes bytes that do not parse: refused for the caller before they are decoded. */
function anyBody(ctx: GenContext, m: CredentialMaterial, rpc: Rpc): { body: Buffer; note: string } {
  return ctx.rng.chance(0.25) ? { body: ctx.rng.bytes(ctx.rng.int(1, 64)), note: "random bytes" } : { body: bodyFor(ctx, m, rpc), note: "a request" };
}

function entry(category: string, count: number, make: (ctx: GenContext, i: number, rpc: Rpc) => Omit<FuzzCase, "category" | "method">): Generator {
  return {
    category,
    count,
    make(ctx, i) {
      const rpc = RPCS[i % RPCS.length]!;
      return { category, method: rpc, ...make(ctx, i, rpc) };
    },
  };
}

const bearer = (token: string): Record<string, MetadataValue> => ({ authorization: `Bearer ${token}` });

export function credentialGenerators(m: CredentialMaterial): Generator[] {
  const withProfile = (profile: Profile, note: string, metadata?: Record<string, MetadataValue>) =>
    (ctx: GenContext, _i: number, rpc: Rpc) => {
      const { body, note: what } = anyBody(ctx, m, rpc);
      return { body, expect: AUTH_FAILED, note: `${note}, ${what}`, profile, ...(metadata ? { metadata } : {}) };
    };
  return [
    entry("bad credentials: none (TLS, no certificate, no token)", 120, withProfile("anonymous", "no credentials")),
    // With a valid token as well, see the todo test of fuzz.test.ts (grpc-js hides an unverified certificate).
    entry("bad credentials: client certificate of another CA", 120, withProfile("foreign-cert", "foreign CA's taj-system certificate")),
    entry("bad credentials: certificate and token together", 80, (ctx, i, rpc) =>
      withProfile("client-cert", "taj-system certificate and a valid token", bearer(m.valid))(ctx, i, rpc)),
    entry("bad credentials: refused bearer tokens", 3 * m.refused.length * 8, (ctx, i, rpc) => {
      const t = m.refused[Math.floor(i / RPCS.length) % m.refused.length]!;
      const { body, note } = anyBody(ctx, m, rpc);
      return { body, expect: AUTH_FAILED, note: `token ${t.note}, ${note}`, metadata: bearer(t.token) };
    }),
    entry("bad credentials: broken bearer tokens", 400, (ctx, _i, rpc) => {
      const t = brokenToken(ctx, m.valid);
      const { body, note } = anyBody(ctx, m, rpc);
      return { body, expect: AUTH_FAILED, note: `token ${t.note}, ${note}`, metadata: bearer(t.token) };
    }),
    entry("bad credentials: authorization header shape", 160, (ctx, _i, rpc) => {
      const v = m.valid;
      const [value, note] = ctx.rng.pick<[MetadataValue, string]>([
        ["Basic YWRtaW46YWRtaW4=", "Basic"],
        [`Basic ${Buffer.from(`fuzz:${v}`).toString("base64")}`, "Basic carrying the token"],
        [`Token ${v}`, "scheme Token"],
        [v, "no scheme"],
        ["Bearer", "Bearer without a token"],
        [`Bearer  ${v}`, "two spaces"],
        [`Bearer ${v} ${v}`, "two tokens in one header"],
        [`Bearer ${v},Bearer ${v}`, "two values joined by a comma"],
        // Two authorization headers as an intermediary merges them (node's HTTP/2 refuses to send
        // the header twice: ERR_HTTP2_HEADER_SINGLE_VALUE).
        [`Bearer ${v}, Bearer ${v}`, "two valid values merged"],
        [`Bearer ${v}, Basic YWRtaW46YWRtaW4=`, "Bearer and Basic merged"],
      ]);
      const { body, note: what } = anyBody(ctx, m, rpc);
      return { body, expect: AUTH_FAILED, note: `authorization ${note}, ${what}`, metadata: { authorization: value } };
    }),
    entry("bad credentials: valid identity without the RPC's role", 240, (ctx, i, rpc) => {
      const { body, note } = anyBody(ctx, m, rpc);
      const variant = Math.floor(i / RPCS.length) % 4;
      // The taj-system certificate holds search and enroll; the default token search, enroll and admin.
      if (variant === 3 && ["Stats", "QueryAudit", "FeedbackSummary"].includes(rpc)) {
        return { body, expect: ["PERMISSION_DENIED"], note: `taj-system certificate, ${note}`, profile: "client-cert" };
      }
      if (variant === 2 && ["QueryAudit", "FeedbackSummary"].includes(rpc)) {
        return { body, expect: ["PERMISSION_DENIED"], note: `default token (no audit role), ${note}` };
      }
      const token = m.noRoles[i % m.noRoles.length]!;
      return { body, expect: ["PERMISSION_DENIED"], note: `token without a known role #${i % m.noRoles.length}, ${note}`, metadata: bearer(token) };
    }),
  ];
}
