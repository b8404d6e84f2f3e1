import {
  StreamWatch, addService, auditStreamSpec, channelCredentials, serverCredentials, startGrpcServer, startMetrics, templateStreamSpec, tlsFilesOf,
  type Logger,
} from "@taj/common";
import { MatchingService } from "@taj/proto";
import { maxRequestBytes, type GatewayConfig } from "./config.ts";
import { imageTooLarge } from "./validation.ts";
import { AuditTrail } from "./audit/index.ts";
import { gatewayMetrics } from "./metrics.ts";
import { PartitionCount } from "./partition-count.ts";
import { TemplateLog } from "./template-log.ts";
import { Coordinators, ExtractorPool } from "./upstreams.ts";
import { matchingService } from "./service.ts";
import { createCallGate } from "./auth/index.ts";
import { SettingsStore } from "./settings/store.ts";
import { initialSettings } from "./settings/initial.ts";

export interface Gateway {
  port: number;
  metricsPort: number;
  close(): Promise<void>;
}

/**
 * Connects to the template log and etcd, then serves MatchingService: health SERVING once etcd was
 * read and both streams match their spec (StreamWatch; the bootstrap, `tajctl init`, makes them).
 */
export async function startGateway(config: GatewayConfig, logger: Logger): Promise<Gateway> {
  const tls = tlsFilesOf(config);
  const metrics = await startMetrics("gateway", config.METRICS_PORT, config.GRPC_HOST, logger, { tls, labels: { site: config.SITE } });
  const log = await TemplateLog.open(config.NATS_URLS, tls, logger);
  // No audit, no answer: the gateway is NOT_SERVING until both streams exist as the bootstrap made them.
  const audit = await AuditTrail.on(log.connection, { gatewayId: config.GATEWAY_ID, appendTimeoutMs: config.AUDIT_APPEND_TIMEOUT_MS }, logger);
  const partitions = new PartitionCount(config.ETCD_ENDPOINTS, tls, logger);
  const settings = new SettingsStore(config.ETCD_ENDPOINTS, tls, { gatewayId: config.GATEWAY_ID, initial: initialSettings(config) }, logger);
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
      settings: (modality) => settings.settings(modality),
      caseRefRequired: config.CASE_REF_REQUIRED,
    },
    gate: createCallGate(config, logger),
    extractors,
    coordinators,
    log,
    partitionCount: () => partitions.get(),
    settings,
    audit,
    auditLimits: {
      queryScanLimit: config.AUDIT_QUERY_SCAN_LIMIT,
      feedbackScanLimit: config.AUDIT_FEEDBACK_SCAN_LIMIT,
      summaryScanLimit: config.AUDIT_SUMMARY_SCAN_LIMIT,
    },
    metrics: gatewayMetrics(metrics, extractors, (m) => (settings.loaded ? settings.version(m).revision : undefined)),
    requestTimeoutMs: config.REQUEST_TIMEOUT_MS,
    enrollStreamMaxInFlight: config.ENROLL_STREAM_MAX_IN_FLIGHT,
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
  let streamsOk = false;
  const updateServing = () => server.setServing(streamsOk && partitions.loaded && settings.loaded);
  updateServing();
  const streams = await StreamWatch.start(
    await log.connection.jetstreamManager(),
    [templateStreamSpec({ replicas: config.LOG_REPLICAS }), auditStreamSpec({ replicas: config.LOG_REPLICAS })],
    {
      intervalMs: config.STREAM_CHECK_INTERVAL_MS,
      logger,
      onChange: (ok) => {
        streamsOk = ok;
        updateServing();
      },
    },
  );
  const ready = Promise.all([partitions.start(), settings.start()]).then(updateServing);
  await Promise.race([ready, new Promise((r) => setTimeout(r, 5_000).unref())]);
  return {
    port: server.port,
    metricsPort: metrics.port,
    async close() {
      streams.stop();
      await server.shutdown(1_000);
      extractors.close();
      coordinators.close();
      await partitions.close();
      await settings.close();
      await audit.close(); // before the connection it shares with the log
      await log.close();
      await metrics.close();
    },
  };
}
