import { z } from "zod";
import { csv } from "@taj/common";
import { ROLE_NAMES, rolesOf, type RoleName } from "./roles.ts";
import type { Role } from "@taj/proto";

/** A certificate's subject CN as CLIENT_CERT_ROLES names it. */
const CN_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const roleName = z.enum(Object.keys(ROLE_NAMES) as [RoleName, ...RoleName[]]);

/** "taj-system=search+enroll;tajctl=admin+audit" -> Map { "taj-system" => [SEARCH, ENROLL], ... }. */
export const certRoles = z
  .string()
  .transform((s) => s.split(";").map((x) => x.trim()).filter((x) => x.length > 0))
  .pipe(
    z.array(
      z
        .string()
        .regex(/^[^=]+=[^=]*$/, "expected <subject CN>=<role>+<role>")
        .transform((entry) => {
          const [cn = "", roles = ""] = entry.split("=");
          return { cn: cn.trim(), roles: roles.split("+").map((r) => r.trim()).filter((r) => r.length > 0) };
        })
        .pipe(z.object({ cn: z.string().regex(CN_PATTERN, "a CN is 1-64 of A-Z a-z 0-9 _ . -"), roles: z.array(roleName) })),
    ),
  )
  .refine((entries) => new Set(entries.map((e) => e.cn)).size === entries.length, "a CN is listed twice")
  .transform((entries) => new Map<string, Role[]>(entries.map((e) => [e.cn, rolesOf(e.roles)])));

const perSecond = z.coerce.number().min(0.01).max(1_000_000);
const burst = z.coerce.number().int().min(0).max(1_000_000);

/**
 * How the gateway knows its callers; spread into GatewayConfig. At least one way (client
 * certificates or OIDC tokens) must be configured: there is no anonymous mode.
 */
export const authEnv = {
  /** PEM file with one or more CAs that sign TAJ systems' client certificates (issued directly by one of them). */
  CLIENT_CA_FILE: z.string().min(1).optional(),
  /** Roles of each client certificate, by subject CN. A valid certificate not listed gets no role. */
  CLIENT_CERT_ROLES: certRoles.default(new Map()),
  /** The identity provider's signing keys: a JWKS file (re-read when it changes) or URL; not both. */
  OIDC_JWKS_FILE: z.string().min(1).optional(),
  OIDC_JWKS_URL: z.url().optional(),
  OIDC_ISSUER: z.string().min(1).optional(),
  OIDC_AUDIENCE: z.string().min(1).optional(),
  /** Signature algorithms accepted; "none" and HMAC are never (a public JWKS must not be a shared secret). */
  OIDC_ALGORITHMS: csv
    .pipe(z.array(z.enum(["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"])).min(1))
    .default(["ES256", "RS256"]),
  OIDC_CLOCK_TOLERANCE_S: z.coerce.number().int().min(0).max(300).default(30),
  /** The claim holding the roles: an array of names or a space-separated string; a dotted path reaches nested claims. */
  OIDC_ROLES_CLAIM: z.string().regex(/^[A-Za-z0-9_:/-]+(\.[A-Za-z0-9_:/-]+)*$/).default("roles"),
  /** Calls per second per authenticated principal, and the extra calls a burst may take above it (refilled over 10 s). */
  RATE_LIMIT_PER_PRINCIPAL_PER_S: perSecond.default(50),
  RATE_LIMIT_PER_PRINCIPAL_BURST: burst.default(100),
  /** Calls that fail authentication, per peer host: bounds floods of bad tokens or certificates. */
  RATE_LIMIT_UNAUTHENTICATED_PER_S: perSecond.default(2),
  RATE_LIMIT_UNAUTHENTICATED_BURST: burst.default(20),
};

type AuthEnv = z.infer<z.ZodObject<typeof authEnv>>;

/** The cross-field rules of authEnv, for GatewayConfig's superRefine. */
export function checkAuthEnv(c: AuthEnv, ctx: z.RefinementCtx): void {
  const oidc = c.OIDC_JWKS_FILE !== undefined || c.OIDC_JWKS_URL !== undefined;
  if (c.OIDC_JWKS_FILE !== undefined && c.OIDC_JWKS_URL !== undefined) {
    ctx.addIssue({ code: "custom", path: ["OIDC_JWKS_URL"], message: "set OIDC_JWKS_FILE or OIDC_JWKS_URL, not both" });
  }
  if (oidc && (c.OIDC_ISSUER === undefined || c.OIDC_AUDIENCE === undefined)) {
    ctx.addIssue({ code: "custom", path: ["OIDC_ISSUER"], message: "OIDC needs OIDC_ISSUER and OIDC_AUDIENCE" });
  }
  if (!oidc && c.CLIENT_CA_FILE === undefined) {
    ctx.addIssue({ code: "custom", path: ["CLIENT_CA_FILE"], message: "no way to authenticate callers: set CLIENT_CA_FILE and/or OIDC_JWKS_FILE or OIDC_JWKS_URL" });
  }
}

export type AuthConfig = AuthEnv;
