import {
  ALLOWED_PEERS, addService, channelCredentials, serverCredentials, startGrpcServer, startMetrics, tlsFilesOf, UpstreamHealth, type Logger,
} from "@taj/common";
import { CoordinatorService } from "@taj/proto";
import type { CoordinatorConfig } from "./config.ts";
import { ClusterView } from "./cluster-view.ts";
import { ShardClients } from "./shard-clients.ts";
import { coordinatorMetrics } from "./metrics.ts";
import { coordinatorService } from "./service.ts";

export interface Coordinator {
  port: number;
  metricsPort: number;
  view: ClusterView;
  close(): Promise<void>;
}

/** Starts the coordinator; health says SERVING only once the routing table has been read. */
export async function startCoordinator(config: CoordinatorConfig, logger: Logger): Promise<Coordinator> {
  const tls = tlsFilesOf(config);
  const metrics = await startMetrics("coordinator", config.METRICS_PORT, config.GRPC_HOST, logger, { tls, labels: { site: config.SITE } });
  const view = new ClusterView(config.ETCD_ENDPOINTS, tls, logger);
  const clients = new ShardClients(channelCredentials(tls));
  const impl = coordinatorService({
    table: () => view.table,
    clients,
    health: new UpstreamHealth(config.REPLICA_COOLDOWN_MS),
    settings: {
      localSite: config.SITE,
      shardCallTimeoutMs: config.SHARD_CALL_TIMEOUT_MS,
      perPartitionKFactor: config.PER_PARTITION_K_FACTOR,
    },
    metrics: coordinatorMetrics(metrics, view),
    logger,
    searchTimeoutMs: config.SEARCH_TIMEOUT_MS,
    maxSearchTimeoutMs: config.MAX_SEARCH_TIMEOUT_MS,
    statusCallTimeoutMs: config.STATUS_CALL_TIMEOUT_MS,
  });
  const server = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    serviceNames: [CoordinatorService.typeName],
    credentials: serverCredentials(tls, { requireClientCert: true }),
    metrics,
    register: (s) => addService(s, CoordinatorService, impl, logger, { allowedPeers: ALLOWED_PEERS.coordinator }),
  });
  server.setServing(false);
  const ready = view.start().then(() => server.setServing(view.loaded));
  // Channels to replicas that left the cluster are closed once a minute.
  const sweep = setInterval(() => clients.retain(new Set([...view.table.members.values()].map((m) => m.address))), 60_000);
  sweep.unref();
  await Promise.race([ready, new Promise((r) => setTimeout(r, 5_000).unref())]);
  return {
    port: server.port,
    metricsPort: metrics.port,
    view,
    async close() {
      clearInterval(sweep);
      await server.shutdown(1_000);
      await view.close();
      clients.close();
      await metrics.close();
    },
  };
}
