import type { TlsFiles } from "@taj/common";
import { natsRouteTls, natsSecurityConfig } from "./nats-auth.ts";

export const NATS_CLUSTER_NAME = "taj";

export interface NatsServerConfig {
  serverName: string;
  site: string;
  /** host:port of the client listener, and of the monitoring http listener. */
  clientListen: string;
  monitorListen: string;
  clusterListen: string;
  /** host:port of every node's route listener, this one's included. */
  routes: readonly string[];
  storeDir: string;
  maxFileStore: string;
  pingIntervalSec: number;
  writeDeadlineSec: number;
  tls: TlsFiles;
}

/**
 * One nats-server config for the local cluster, the drills and plain VMs (deploy/vm), so the
 * security blocks, the site tags and the JetStream placement rule are the same everywhere.
 */
export function natsServerConfig(c: NatsServerConfig, writtenBy: string): string {
  // Tag by site and ask JetStream for one replica per distinct site tag: an R3 stream then has a
  // copy at site A, site B and the witness, and survives the loss of any one of them.
  return `# written by ${writtenBy}
server_name: ${JSON.stringify(c.serverName)}
listen: ${c.clientListen}
http: ${c.monitorListen}
server_tags: [${JSON.stringify(`site:${c.site}`)}]
ping_interval: "${c.pingIntervalSec}s"
ping_max: 2
write_deadline: "${c.writeDeadlineSec}s"
${natsSecurityConfig(c.tls)}jetstream {
  store_dir: ${JSON.stringify(c.storeDir)}
  max_memory_store: 256MB
  max_file_store: ${c.maxFileStore}
  unique_tag: "site:"
}
cluster {
  name: ${NATS_CLUSTER_NAME}
  listen: ${c.clusterListen}
  routes: [${c.routes.map((r) => `nats-route://${r}`).join(", ")}]
${natsRouteTls(c.tls)}}
`;
}
