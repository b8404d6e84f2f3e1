import { ErrorCode, type Principal } from "@taj/proto";
import { AppError, type CallContext, type Logger } from "@taj/common";
import type { AuthConfig } from "./config.ts";
import { createAuthenticator, type Authenticator } from "./authenticator.ts";
import { RateLimits } from "./rate-limits.ts";

/** "ipv4:127.0.0.1:5555", "[::1]:5555", "127.0.0.1:5555" -> the host: a client opens many ports. */
export function peerHost(peerAddress: string): string {
  const address = peerAddress.replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+):\d+$/.exec(address);
  return hostPort ? hostPort[1]! : address;
}

/**
 * The first step of every RPC, before validation or any work (deps.ts's CallerGate): refuse an
 * address that keeps failing authentication (RATE_LIMITED, without spending a signature check on
 * it), authenticate (UNAUTHENTICATED; the failure counts against the address), then spend the
 * principal's rate (RATE_LIMITED). authorize(principal, rpc) comes next (PERMISSION_DENIED).
 */
export class CallGate {
  readonly #authenticator: Authenticator;
  readonly #principals: RateLimits;
  readonly #failures: RateLimits;

  constructor(authenticator: Authenticator, principals: RateLimits, failures: RateLimits) {
    this.#authenticator = authenticator;
    this.#principals = principals;
    this.#failures = failures;
  }

  /** `onAuthenticated` learns the principal even when its own rate then refuses the call (for the audit trail). */
  async admit(ctx: CallContext, onAuthenticated?: (principal: Principal) => void): Promise<Principal> {
    const peer = peerKey(ctx);
    await this.#failures.check(peer);
    let principal: Principal;
    try {
      principal = await this.#authenticator.authenticate(ctx);
    } catch (err) {
      const refused = AppError.from(err);
      // Only the caller's own failures count against its address, not an IdP outage.
      if (refused.code === ErrorCode.UNAUTHENTICATED) await this.#failures.take(peer).catch(() => {});
      throw refused;
    }
    onAuthenticated?.(principal);
    await this.#principals.take(principal.id);
    return principal;
  }
}

const peerKey = (ctx: CallContext) => `peer:${peerHost(ctx.peerAddress)}`;

export function createCallGate(config: AuthConfig, logger: Logger): CallGate {
  return new CallGate(
    createAuthenticator(config, logger),
    new RateLimits(config.RATE_LIMIT_PER_PRINCIPAL_PER_S, config.RATE_LIMIT_PER_PRINCIPAL_BURST, "for this caller"),
    new RateLimits(config.RATE_LIMIT_UNAUTHENTICATED_PER_S, config.RATE_LIMIT_UNAUTHENTICATED_BURST, "failing authentication from this address"),
  );
}
