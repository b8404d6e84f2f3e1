export { AppError, errorCodeName, errorDetailOf, fromServiceError, grpcStatusOf, isClientRefusal, toGrpcError, ERROR_CODE_KEY, ERROR_DETAIL_KEY } from "./errors.ts";
export { validateId, validateModelId, partitionOf, modalityName, modalityFromName, ALL_MODALITIES } from "./ids.ts";
export { createLogger, type Logger } from "./logger.ts";
export { loadConfig, hostPort, port, csv, siteName, commonEnv } from "./config.ts";
export { addService, grpcServiceDefinition, malformedRequestError, type AddServiceOptions, type CallContext, type ServiceImpl } from "./grpc-service.ts";
export {
  PEER_KINDS, tlsEnv, tlsFilesOf, tlsFilesFromEnv, serverCredentials, channelCredentials, tokenCallerCredentials, natsTls, natsInboxPrefix, etcdCredentials, peerKindOf,
  watchCertificateExpiry, certificatesNotAfterMs, type CertificateExpiry,
  type NatsTlsOptions, type PeerKind, type TlsFiles, type TlsEnv,
} from "./tls.ts";
export { ALLOWED_PEERS } from "./peer-policy.ts";
export { createClient, deadlineFrom, type BidiCall, type CallOptions, type ServiceClient } from "./grpc-client.ts";
export { startGrpcServer, DEFAULT_MAX_REQUEST_BYTES, type GrpcServer } from "./server.ts";
export { HEALTH_SERVICE, REFLECTION_SERVICES, reflectionProtoPath, type ReflectionVersion } from "./reflection.ts";
export { transportError, transportErrorInterceptor, type CallObserver } from "./transport-errors.ts";
export { startMetrics, Counter, Gauge, Histogram, type Metrics, type MetricsOptions } from "./metrics.ts";
export { outcomeLabel, rpcDurationObserver } from "./rpc-metrics.ts";
export { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, templateSubject, parseTemplateSubject, partitionSubjectFilters } from "./log-layout.ts";
export {
  ETCD_ROOT, PARTITION_COUNT_KEY, SETTINGS_PREFIX, SETTINGS_HISTORY_PREFIX, settingsKey, settingsHistoryKey, ASSIGNMENT_PREFIX, MEMBER_PREFIX, assignmentKey, memberKey,
  Assignment, Member, parseSiteShardKey, PROJECTION_PREFIX, ACTIVE_PROJECTION_PREFIX, projectionKey, activeProjectionKey,
} from "./cluster-layout.ts";
export { encodeTemplateEvent, decodeTemplateEvent } from "./template-log.ts";
export {
  templateStreamSpec, auditStreamSpec, clusterStreams, streamConfigOf, streamDifferences, streamCheckEnv, TEMPLATE_MSGS_PER_SUBJECT, AUDIT_MAX_AGE_DAYS_DEFAULT,
  DUPLICATE_WINDOW_NS, type StreamSpec, type StreamRequirement, type TemplateStreamOptions, type AuditStreamOptions, type AuditRetention, type ClusterStreamsOptions,
} from "./stream-settings.ts";
export { StreamWatch, checkStream, type StreamCheck, type StreamWatchOptions } from "./stream-watch.ts";
export { bootstrapStreams, type BootstrapResult } from "./stream-bootstrap.ts";
export { stopOnSignals } from "./lifecycle.ts";
export { AUDIT_STREAM, AUDIT_SUBJECT_ROOT, GATEWAY_ID_PATTERN, auditSubject } from "./log-layout.ts";
export {
  hashEventBytes, sealAuditEvent, decodeAuditRecord, decodeAuditEvent, scanAuditStream,
  type StoredAuditMessage, type ReadAuditOptions,
} from "./audit-log.ts";
export { verifyAuditChains, ChainVerifier, VERIFY_LIMITS, type ChainInput, type ChainBreak, type ChainReport, type VerifyReport, type BreakKind } from "./audit-chain.ts";
export {
  failureClass, isUnreachable, shouldTryAnother, EXTRACTORS, COORDINATORS, REPLICAS, GATEWAYS, type FailureClass, type UpstreamKind,
} from "./retry-policy.ts";
export { UpstreamPool, UNBOUNDED, type PoolLimits, type PoolOptions } from "./upstream-pool.ts";
export { UpstreamHealth } from "./upstream-health.ts";
export { isStreamNotFound, isNoMessage, isNoResponders } from "./jetstream-errors.ts";
export { TajctlConfig, TAJCTL_CONFIG_FILE, TAJCTL_CONFIG_DEFAULT, readTajctlConfig, writeTajctlConfig } from "./tajctl-config.ts";
export {
  DEFAULT_PARTITION_COUNT, MAX_PARTITION_COUNT, MAX_CANDIDATES, MAX_SHARD_K, MAX_FACES_PER_SEARCH, MAX_TEMPLATE_DIMENSIONS, FACE_TEMPLATE_DIMENSIONS, ETCD_MAX_REQUEST_BYTES, HUGE_PAGES_TUNABLE, parsePartitionCount,
} from "./cluster-constants.ts";
export { seededRng, type Rng } from "./seeded-rng.ts";
export { BODY_LOCATIONS, MAX_BODY_LOCATION_FILTER, parseBodyLocation, parseBodyLocationFilter, bodyLocationOfSmtCode } from "./body-location.ts";
export {
  learnProjection, applyProjection, linearMap, encodeF16, decodeF16, projectionMessage, projectionOf, DEFAULT_REGULARIZATION, F16_MAX,
  type LinearProjection, type LearnedProjection, type LearnOptions, type ProjectionOrigin,
} from "./projection/index.ts";
export {
  saveProjection, readProjection, listProjections, activateProjection, deactivateProjection, readActiveVersions, watchActiveProjections,
  parseActiveVersion, encodeProjectionValue,
} from "./projection-store.ts";
export { scanTemplateLog, type LoggedTemplate, type ScanTemplateOptions } from "./template-log-scan.ts";
export { cosine } from "./vectors.ts";
export { encodeTemplateF32, encodeTemplateF16, wireTemplate, enrolledTemplate, type F32Carrier, type F16Carrier } from "./template-codec.ts";
export { spaceOf, spaceParts } from "./template-space.ts";
