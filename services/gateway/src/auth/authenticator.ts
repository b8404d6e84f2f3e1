import { create } from "@bufbuild/protobuf";
import { ErrorCode, PrincipalKind, PrincipalSchema, type Principal } from "@taj/proto";
import { AppError, type CallContext, type Logger } from "@taj/common";
import type { AuthConfig } from "./config.ts";
import { ClientCertificateVerifier } from "./client-certificate.ts";
import { bearerOf, BearerTokenVerifier, jwksFromFile, jwksFromUrl } from "./bearer-token.ts";

/** Who a call comes from, established by the gateway itself; throws UNAUTHENTICATED. */
export interface Authenticator {
  authenticate(ctx: CallContext): Promise<Principal>;
}

/** The principal of a refused call whose caller could not be authenticated, for the audit trail. */
export const ANONYMOUS: Principal = create(PrincipalSchema, { id: "anonymous", kind: PrincipalKind.ANONYMOUS, roles: [] });

const unauthenticated = (message: string) => new AppError(ErrorCode.UNAUTHENTICATED, message);

/**
 * Systems come with a client certificate, people with an OIDC bearer token. A call that brings
 * both is refused: one call, one identity in the audit trail. Nothing the caller merely states
 * (a header such as x-taj-user) names it.
 */
export class CallAuthenticator implements Authenticator {
  readonly #certificates: ClientCertificateVerifier | undefined;
  readonly #tokens: BearerTokenVerifier | undefined;

  constructor(certificates: ClientCertificateVerifier | undefined, tokens: BearerTokenVerifier | undefined) {
    this.#certificates = certificates;
    this.#tokens = tokens;
  }

  async authenticate(ctx: CallContext): Promise<Principal> {
    const token = bearerOf(ctx.metadata.get("authorization"));
    const cert = ctx.peerCertificate;
    if (cert && token !== undefined) throw unauthenticated("send a client certificate or a bearer token, not both");
    if (cert) {
      if (!this.#certificates) throw unauthenticated("client certificates are not accepted here");
      return this.#certificates.verify(cert);
    }
    if (token !== undefined) {
      if (!this.#tokens) throw unauthenticated("bearer tokens are not accepted here");
      return this.#tokens.verify(token);
    }
    throw unauthenticated("no credentials: send a client certificate or 'authorization: Bearer <token>'");
  }
}

/** The authenticator the configuration describes (config.ts already ensured at least one way). */
export function createAuthenticator(config: AuthConfig, logger: Logger): Authenticator {
  const reloadFailed = (file: string) => (err: unknown) => logger.error({ err, file }, "could not reload; keeping the previous keys");
  const certificates =
    config.CLIENT_CA_FILE === undefined
      ? undefined
      : new ClientCertificateVerifier(config.CLIENT_CA_FILE, config.CLIENT_CERT_ROLES, reloadFailed(config.CLIENT_CA_FILE));
  const keys =
    config.OIDC_JWKS_FILE !== undefined
      ? jwksFromFile(config.OIDC_JWKS_FILE, reloadFailed(config.OIDC_JWKS_FILE))
      : config.OIDC_JWKS_URL !== undefined
        ? jwksFromUrl(config.OIDC_JWKS_URL)
        : undefined;
  const tokens =
    keys === undefined || config.OIDC_ISSUER === undefined || config.OIDC_AUDIENCE === undefined
      ? undefined
      : new BearerTokenVerifier(keys, {
          issuer: config.OIDC_ISSUER,
          audience: config.OIDC_AUDIENCE,
          algorithms: config.OIDC_ALGORITHMS,
          clockToleranceS: config.OIDC_CLOCK_TOLERANCE_S,
          rolesClaim: config.OIDC_ROLES_CLAIM,
        });
  return new CallAuthenticator(certificates, tokens);
}
