import { ErrorCode, Role, type Principal } from "@taj/proto";
import { AppError } from "@taj/common";

/**
 * Which role each MatchingService RPC needs: the one table, enforced by authorize() before any
 * validation or work. docs/api.md holds the same table (a test compares them).
 */
export const RPC_ROLES = {
  Search: Role.SEARCH,
  RecordFeedback: Role.SEARCH,
  Enroll: Role.ENROLL,
  EnrollStream: Role.ENROLL,
  Delete: Role.ENROLL,
  Get: Role.ENROLL,
  Stats: Role.ADMIN,
  GetSettings: Role.ADMIN,
  UpdateSettings: Role.ADMIN,
  SettingsHistory: Role.ADMIN,
  DropModelTemplates: Role.ADMIN,
  QueryAudit: Role.AUDIT,
  FeedbackSummary: Role.AUDIT,
} as const satisfies Record<string, Role>;

export type GatewayRpc = keyof typeof RPC_ROLES;

/** Role names as operators write them (CLIENT_CERT_ROLES, token claims, docs): "search", "enroll", ... */
export const ROLE_NAMES = {
  search: Role.SEARCH,
  enroll: Role.ENROLL,
  admin: Role.ADMIN,
  audit: Role.AUDIT,
} as const satisfies Record<string, Role>;

export type RoleName = keyof typeof ROLE_NAMES;

export function roleName(role: Role): RoleName | undefined {
  return (Object.keys(ROLE_NAMES) as RoleName[]).find((name) => ROLE_NAMES[name] === role);
}

/** The known roles among `names`, each once; unknown names are ignored (an IdP may send others). */
export function rolesOf(names: readonly string[]): Role[] {
  const roles = new Set<Role>();
  for (const name of names) {
    if (Object.hasOwn(ROLE_NAMES, name)) roles.add(ROLE_NAMES[name as RoleName]);
  }
  return [...roles].sort((a, b) => a - b);
}

/** Throws PERMISSION_DENIED unless the principal holds the RPC's role. The message names the role, never the principal. */
export function authorize(principal: Principal, rpc: GatewayRpc): void {
  const needed = RPC_ROLES[rpc];
  if (!principal.roles.includes(needed)) {
    throw new AppError(ErrorCode.PERMISSION_DENIED, `${rpc} needs the role "${roleName(needed)}"`);
  }
}
