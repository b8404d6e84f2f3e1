import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, PrincipalKind, PrincipalSchema, type Principal } from "@taj/proto";
import { AppError } from "@taj/common";
import { ReloadingFile } from "./reloading-file.ts";
import { rolesOf } from "./roles.ts";

export interface TokenOptions {
  issuer: string;
  audience: string;
  algorithms: readonly string[];
  clockToleranceS: number;
  rolesClaim: string;
}

// Printable, bounded: the sub becomes the principal id written in every audit event.
const SUB_PATTERN = /^[^\p{C}\s]{1,128}$/u;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const MAX_TOKEN_CHARS = 8_192;

const unauthenticated = (message: string, cause?: unknown) =>
  new AppError(ErrorCode.UNAUTHENTICATED, message, cause === undefined ? {} : { cause });

/** The JWKS from a file, re-read when the file changes (a key rotation needs no restart). */
export function jwksFromFile(path: string, onReloadError?: (err: unknown) => void): JWTVerifyGetKey {
  const file = new ReloadingFile(
    path,
    (text) => {
      const jwks = JSON.parse(text) as JSONWebKeySet;
      if (!Array.isArray(jwks.keys)) throw new Error("not a JWKS: no keys array");
      return createLocalJWKSet(jwks);
    },
    onReloadError ? { onError: onReloadError } : {},
  );
  return (header, token) => file.get()(header, token);
}

export function jwksFromUrl(url: string): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { timeoutDuration: 2_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
}

/** The value at a dotted claim path ("realm_access.roles"), or undefined. */
function claimAt(payload: JWTPayload, path: string): unknown {
  let value: unknown = payload;
  for (const part of path.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function roleNamesIn(claim: unknown): string[] {
  if (typeof claim === "string") return claim.split(" ");
  if (Array.isArray(claim)) return claim.filter((x): x is string => typeof x === "string");
  return [];
}

/** The bearer token of `authorization: Bearer <jwt>`, undefined when the header is absent. */
export function bearerOf(values: readonly (string | Buffer)[]): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1) throw unauthenticated("send one authorization header");
  const value = values[0]!.toString();
  const match = /^Bearer ([^\s]+)$/i.exec(value);
  if (!match) throw unauthenticated("the authorization header must be 'Bearer <token>'");
  return match[1]!;
}

/**
 * Verifies an OIDC access or ID token: signature by a key of the JWKS with an allowed algorithm,
 * issuer, audience, exp (required) and nbf within the clock tolerance. Every failure gives the
 * same kind of short message; the token itself is never echoed or logged.
 */
export class BearerTokenVerifier {
  readonly #keys: JWTVerifyGetKey;
  readonly #options: TokenOptions;

  constructor(keys: JWTVerifyGetKey, options: TokenOptions) {
    this.#keys = keys;
    this.#options = options;
  }

  async verify(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_CHARS || !JWT_SHAPE.test(token)) throw unauthenticated("the bearer token is not a signed JWT");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys, {
        issuer: this.#options.issuer,
        audience: this.#options.audience,
        algorithms: [...this.#options.algorithms],
        clockTolerance: this.#options.clockToleranceS,
        requiredClaims: ["exp", "sub"],
      }));
    } catch (err) {
      throw verifyFailure(err);
    }
    const sub = payload.sub ?? "";
    if (!SUB_PATTERN.test(sub)) throw unauthenticated("the bearer token's sub is not a usable name");
    return create(PrincipalSchema, {
      id: `oidc:${sub}`,
      kind: PrincipalKind.TOKEN,
      roles: rolesOf(roleNamesIn(claimAt(payload, this.#options.rolesClaim))),
    });
  }
}

/** A safe message per kind of failure (jose's own messages may quote claims; they stay in `cause`). */
function verifyFailure(err: unknown): AppError {
  if (err instanceof errors.JWTExpired) return unauthenticated("the bearer token has expired", err);
  if (err instanceof errors.JWTClaimValidationFailed) return unauthenticated(`the bearer token's ${claimName(err.claim)} claim is not accepted`, err);
  // Not the token's fault: the IdP's JWKS URL timed out or could not be fetched (jose raises its
  // own errors for every defect of a token). Such calls do not count against the caller's address.
  if (err instanceof errors.JWKSTimeout || !(err instanceof errors.JOSEError)) {
    return new AppError(ErrorCode.UNAVAILABLE, "the identity provider's keys could not be fetched; retry", { cause: err });
  }
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWSSignatureVerificationFailed) {
    return unauthenticated("the bearer token's signature is not from a trusted key", err);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return unauthenticated("the bearer token's algorithm is not accepted", err);
  return unauthenticated("the bearer token is not valid", err);
}

function claimName(claim: string): string {
  return ["iss", "aud", "exp", "nbf", "iat", "sub"].includes(claim) ? claim : "a";
}
