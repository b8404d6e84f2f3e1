import type { PeerKind } from "./tls.ts";

/**
 * Which peer kinds (certificate OU) may call each internal server: the one table of service
 * identity. admin is the operator's identity (tajctl status, drills, the bench, tests); health and
 * reflection stay open to any certificate the cluster's CA signed. The public gateway is not
 * listed: it admits any caller that passes its own authentication.
 */
export const ALLOWED_PEERS = {
  /** Raw templates come out of Extract: only the gateways (and the operator's evaluation tools). */
  extractor: ["gateway", "admin"],
  coordinator: ["gateway", "admin"],
  /** ListTemplates names enrolled ids: only coordinators fan out to shards. */
  shard: ["coordinator", "admin"],
} as const satisfies Record<string, readonly PeerKind[]>;
