import { addService, startGrpcServer, startMetrics, type Logger } from "@taj/common";
import { MatchingService, Modality } from "@taj/proto";
import { maxRequestBytes, type GatewayConfig } from "./config.ts";
import { imageTooLarge } from "./validation.ts";
import { AuditTrail } from "./audit.ts";
import { gatewayMetrics } from "./metrics.ts";
import { PartitionCount } from "./partition-count.ts";
import { TemplateLog } from "./template-log.ts";
import { Coordinators, ExtractorPool } from "./upstreams.ts";
import { matchingService } from "./service.ts";

export interface Gateway {
  port: number;
  metricsPort: number;
  close(): Promise<void>;
}

export interface GatewayOptions {
  /** Where audit lines go; its own always-on logger by default. */
  audit?: AuditTrail;
}

/** Connects to the template log and etcd, then serves MatchingService (health SERVING once etcd was read). */
export async function startGateway(config: GatewayConfig, logger: Logger, options: GatewayOptions = {}): Promise<Gateway> {
  const metrics = await startMetrics("gateway", config.METRICS_PORT, config.GRPC_HOST, logger);
  const log = await TemplateLog.open(config.NATS_URLS, config.LOG_REPLICAS, logger);
  const partitions = new PartitionCount(config.ETCD_ENDPOINTS, logger);
  const extractors = new ExtractorPool(config.EXTRACTOR_ADDRESSES, config.REMOTE_EXTRACTOR_ADDRESSES);
  const coordinators = new Coordinators(config.COORDINATOR_ADDRESSES);
  const impl = matchingService({
    limits: {
      maxImageBytes: config.MAX_IMAGE_BYTES,
      maxCandidatesLimit: config.MAX_CANDIDATES_LIMIT,
      defaultMaxCandidates: config.DEFAULT_MAX_CANDIDATES,
      defaultThreshold: new Map([
        [Modality.FACE, config.DEFAULT_SIMILARITY_THRESHOLD_FACE],
        [Modality.TATTOO, config.DEFAULT_SIMILARITY_THRESHOLD_TATTOO],
        [Modality.MARK, config.DEFAULT_SIMILARITY_THRESHOLD_MARK],
      ]),
    },
    extractors,
    coordinators,
    log,
    partitionCount: () => partitions.get(),
    audit: options.audit ?? new AuditTrail(),
    metrics: gatewayMetrics(metrics),
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    logger,
  });
  const server = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    serviceNames: [MatchingService.typeName],
    maxRequestBytes: maxRequestBytes(config),
    oversizedRequest: imageTooLarge(config.MAX_IMAGE_BYTES),
    register: (s) => addService(s, MatchingService, impl, logger),
  });
  server.setServing(false);
  const ready = partitions.start().then(() => server.setServing(partitions.loaded));
  await Promise.race([ready, new Promise((r) => setTimeout(r, 5_000).unref())]);
  return {
    port: server.port,
    metricsPort: metrics.port,
    async close() {
      await server.shutdown(1_000);
      extractors.close();
      coordinators.close();
      await partitions.close();
      await log.close();
      await metrics.close();
    },
  };
}
