export { ensureServerBinaries, findBinary, isRecentNats, parseNatsVersion, type ServerBinaries } from "./binaries.ts";
export { startEtcdCluster, type EtcdCluster, type EtcdClusterOptions, type EtcdMember, type EtcdMemberSpec } from "./etcd-cluster.ts";
export {
  startNatsCluster, type NatsCluster, type NatsClusterOptions, type NatsNode, type NatsNodeSpec,
} from "./nats-cluster.ts";
export { natsServerConfig, NATS_CLUSTER_NAME, type NatsServerConfig } from "./nats-config.ts";
export {
  startService, createService, SERVICE_KINDS, type ServiceHandle, type ServiceKind, type StartServiceOptions,
} from "./service.ts";
export {
  startLocalCluster, splitPartitions, type ClusterAddresses, type ClusterNetwork, type LocalCluster, type LocalClusterOptions,
} from "./local-cluster.ts";
export { portLayout, labelledPorts, assertPortsFree, shardIds, PORT_SPAN, WITNESS, type PortLayout, type ServicePorts } from "./ports.ts";
export { ManagedProcess, killAllSync, type ExitStatus, type ProcessSpec } from "./process.ts";
export { checkHealth } from "./health.ts";
export { waitFor } from "./wait.ts";
export { repoRoot } from "./paths.ts";
export { startTestEtcd, type TestEtcd } from "./test-etcd.ts";
export { createSitesTopology, reapStaleTopologies, netnsSupport, type SitesTopology } from "./netns.ts";
export { startSitesCluster, type SitesCluster } from "./sites-cluster.ts";
export { addShard, removeShard, addedShards, stopAddedShards } from "./scale.ts";
export { createPki, sharedTestPki, tlsEnvOf, kindUri, type Pki } from "./pki.ts";
export { NATS_PERMISSIONS } from "./nats-auth.ts";
export { LocalIssuer, bearerMetadata, withCallMetadata, DEMO_ROLES, LOCAL_AUDIENCE, LOCAL_ISSUER, type DemoRole, type TokenClaims } from "./oidc.ts";
export { templateEncodings, findTemplateOnDisk, type TemplateEncoding, type DiskHit } from "./disk-scan.ts";
export { reflectionClient, ReflectionLookupError, type ReflectionClient } from "./reflection-client.ts";
