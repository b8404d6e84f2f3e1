/** How the gateway knows and limits its callers (issue 8): the surface service.ts uses. */
export { ANONYMOUS, CallAuthenticator, createAuthenticator, type Authenticator } from "./authenticator.ts";
export { CallGate, createCallGate, peerHost } from "./call-gate.ts";
export { RateLimits } from "./rate-limits.ts";
export { authorize, RPC_ROLES, ROLE_NAMES, roleName, rolesOf, type GatewayRpc, type RoleName } from "./roles.ts";
export { authEnv, checkAuthEnv, certRoles, type AuthConfig } from "./config.ts";
