import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from "jose";
import { Metadata } from "@grpc/grpc-js";

/** Roles as the gateway's role table names them. */
export type DemoRole = "search" | "enroll" | "admin" | "audit";
export const DEMO_ROLES: readonly DemoRole[] = ["search", "enroll", "admin", "audit"];

export const LOCAL_ISSUER = "https://issuer.taj.local";
export const LOCAL_AUDIENCE = "taj-gateway";
const KID = "taj-local-1";
const ALG = "ES256";

export interface TokenClaims {
  sub: string;
  roles?: readonly string[];
  /** Lifetime from now; negative for an already expired token (tests). Default 1 h. */
  expiresInS?: number;
  /** Overrides, for tests of tokens the gateway must refuse. */
  issuer?: string;
  audience?: string;
  /** Extra claims, e.g. a nested roles claim. */
  claims?: Record<string, unknown>;
}

/**
 * A small OIDC-style issuer for the local cluster and tests: an ES256 key pair, its public JWKS in
 * `<dir>/oidc/jwks.json` (what the gateway's OIDC_JWKS_FILE points at) and tokens signed with it.
 * The private key is kept in `<dir>/oidc/signing-key.jwk` (mode 0600) so a cluster restarted on
 * its old dir accepts the tokens it handed out. Never for production: production has a real IdP.
 */
export class LocalIssuer {
  readonly issuer: string;
  readonly audience: string;
  readonly dir: string;
  readonly jwksFile: string;
  readonly #key: CryptoKey;

  private constructor(dir: string, key: CryptoKey, issuer: string, audience: string) {
    this.dir = dir;
    this.jwksFile = join(dir, "jwks.json");
    this.#key = key;
    this.issuer = issuer;
    this.audience = audience;
  }

  /** Opens the issuer of `<clusterDir>/oidc`, making its key pair and JWKS the first time. */
  static async open(clusterDir: string, options: { issuer?: string; audience?: string } = {}): Promise<LocalIssuer> {
    const dir = join(clusterDir, "oidc");
    mkdirSync(dir, { recursive: true });
    const keyFile = join(dir, "signing-key.jwk");
    let privateJwk: JWK;
    if (existsSync(keyFile)) {
      privateJwk = JSON.parse(readFileSync(keyFile, "utf8")) as JWK;
    } else {
      const { privateKey } = await generateKeyPair(ALG, { extractable: true });
      privateJwk = { ...(await exportJWK(privateKey)), kid: KID, alg: ALG };
      writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
      chmodSync(keyFile, 0o600);
    }
    const { d: _private, ...publicJwk } = privateJwk;
    writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...publicJwk, use: "sig" }] }, null, 2));
    const key = (await importJWK(privateJwk, ALG)) as CryptoKey;
    return new LocalIssuer(dir, key, options.issuer ?? LOCAL_ISSUER, options.audience ?? LOCAL_AUDIENCE);
  }

  /** The gateway's env for this issuer. */
  gatewayEnv(): Record<string, string> {
    return { OIDC_JWKS_FILE: this.jwksFile, OIDC_ISSUER: this.issuer, OIDC_AUDIENCE: this.audience };
  }

  async token(claims: TokenClaims): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ...claims.claims, ...(claims.roles ? { roles: [...claims.roles] } : {}) })
      .setProtectedHeader({ alg: ALG, kid: KID, typ: "JWT" })
      .setSubject(claims.sub)
      .setIssuer(claims.issuer ?? this.issuer)
      .setAudience(claims.audience ?? this.audience)
      .setIssuedAt(now)
      .setExpirationTime(now + (claims.expiresInS ?? 3600))
      .sign(this.#key);
  }

  /** gRPC metadata carrying `authorization: Bearer <token>`. */
  async metadata(claims: TokenClaims): Promise<Metadata> {
    return bearerMetadata(await this.token(claims));
  }

  /**
   * One demo token per role, valid `expiresInS` (default 12 h), written to `<dir>/oidc/<role>.token`
   * (e.g. `grpcurl -H "authorization: Bearer $(cat .../search.token)"`); sub "demo-<role>".
   */
  async writeDemoTokens(expiresInS = 12 * 3600): Promise<Record<DemoRole, string>> {
    const tokens = {} as Record<DemoRole, string>;
    for (const role of DEMO_ROLES) {
      tokens[role] = await this.token({ sub: `demo-${role}`, roles: [role], expiresInS });
      writeFileSync(join(this.dir, `${role}.token`), `${tokens[role]}\n`, { mode: 0o600 });
    }
    return tokens;
  }
}

export function bearerMetadata(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

type UnaryOptions = { metadata?: Metadata } & Record<string, unknown>;

/**
 * The same client, with `metadata` (e.g. a bearer token) on every call that brings none: for the
 * demo, tests and drills, whose clients are made before they know who calls. Plaintext channels
 * cannot carry grpc-js call credentials, hence metadata.
 */
export function withCallMetadata<C extends object>(client: C, metadata: Metadata): C {
  return new Proxy(client, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || key === "close") return value;
      return (request: unknown, options?: UnaryOptions) =>
        (value as (r: unknown, o: UnaryOptions) => unknown).call(target, request, { ...options, metadata: options?.metadata ?? metadata });
    },
  });
}
