import { addService, channelCredentials, serverCredentials, startGrpcServer, startMetrics, tlsFilesOf, type Logger } from "@taj/common";
import { MatchingService, Modality } from "@taj/proto";
import { maxRequestBytes, type GatewayConfig } from "./config.ts";
import { imageTooLarge } from "./validation.ts";
import { AuditTrail } from "./audit/index.ts";
import { gatewayMetrics } from "./metrics.ts";
import { PartitionCount } from "./partition-count.ts";
import { TemplateLog } from "./template-log.ts";
import { Coordinators, ExtractorPool } from "./upstreams.ts";
import { matchingService } from "./service.ts";
import { createCallGate } from "./auth/index.ts";

export interface Gateway {
  port: number;
  metricsPort: number;
  close(): Promise<void>;
}

/** Connects to the template log and etcd, then serves MatchingService (health SERVING once etcd was read). */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const tls = tlsFilesOf(config);
  const metrics = await startMetrics("gateway", config.METRICS_PORT, config.GRPC_HOST, logger, { tls, labels: { site: config.SITE } });
  const log = await TemplateLog.open(config.NATS_URLS, config.LOG_REPLICAS, tls, logger);
  // No audit, no answer: a gateway that cannot reach its audit stream does not start.
  const audit = await AuditTrail.on(
    log.connection,
    {
      gatewayId: config.GATEWAY_ID,
      replicas: config.LOG_REPLICAS,
      maxAgeDays: config.AUDIT_MAX_AGE_DAYS,
      maxBytes: config.AUDIT_MAX_BYTES,
      appendTimeoutMs: config.AUDIT_APPEND_TIMEOUT_MS,
    },
    logger,
  );
  const partitions = new PartitionCount(config.ETCD_ENDPOINTS, tls, logger);
  const upstream = channelCredentials(tls);
  const extractors = new ExtractorPool(upstream, config.EXTRACTOR_ADDRESSES, config.REMOTE_EXTRACTOR_ADDRESSES, {
    maxInFlight: config.EXTRACTOR_MAX_IN_FLIGHT,
    maxQueued: config.EXTRACTOR_MAX_QUEUED,
    cooldownMs: config.UPSTREAM_COOLDOWN_MS,
  });
  const coordinators = new Coordinators(upstream, config.COORDINATOR_ADDRESSES, config.UPSTREAM_COOLDOWN_MS);
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
      caseRefRequired: config.CASE_REF_REQUIRED,
    },
    gate: createCallGate(config, logger),
    extractors,
    coordinators,
    log,
    partitionCount: () => partitions.get(),
    audit,
    auditLimits: {
      queryScanLimit: config.AUDIT_QUERY_SCAN_LIMIT,
      feedbackScanLimit: config.AUDIT_FEEDBACK_SCAN_LIMIT,
      summaryScanLimit: config.AUDIT_SUMMARY_SCAN_LIMIT,
    },
    metrics: gatewayMetrics(metrics, extractors),
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    logger,
  });
  const server = await startGrpcServer({
    host: config.GRPC_HOST,
    port: config.GRPC_PORT,
    logger,
    serviceNames: [MatchingService.typeName],
    // The public port asks for a certificate (TAJ's system presents one) but admits bearer-token callers too.
    credentials: serverCredentials(tls, { requireClientCert: false, clientCaFile: config.CLIENT_CA_FILE }),
    metrics,
    maxRequestBytes: maxRequestBytes(config),
    oversizedRequest: imageTooLarge(config.MAX_IMAGE_BYTES),
    register: (s) => addService(s, MatchingService, impl, logger, { malformedRequests: "handler" }),
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
      await audit.close(); // before the connection it shares with the log
      await log.close();
      await metrics.close();
    },
  };
}
