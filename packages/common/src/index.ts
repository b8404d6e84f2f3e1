export { AppError, errorCodeName, fromServiceError, grpcStatusOf, isClientRefusal, toGrpcError, ERROR_CODE_KEY, ERROR_DETAIL_KEY } from "./errors.ts";
export { validateId, partitionOf, modalityName, modalityFromName, ALL_MODALITIES } from "./ids.ts";
export { createLogger, type Logger } from "./logger.ts";
export { loadConfig, hostPort, port, csv, siteName, commonEnv } from "./config.ts";
export { addService, grpcServiceDefinition, malformedRequestError, type AddServiceOptions, type CallContext, type ServiceImpl } from "./grpc-service.ts";
export {
  PEER_KINDS, tlsEnv, tlsFilesOf, tlsFilesFromEnv, serverCredentials, channelCredentials, tokenCallerCredentials, natsTls, natsInboxPrefix, etcdCredentials, peerKindOf,
  watchCertificateExpiry, certificatesNotAfterMs, type CertificateExpiry,
  type NatsTlsOptions, type PeerKind, type TlsFiles, type TlsEnv,
} from "./tls.ts";
export { ALLOWED_PEERS } from "./peer-policy.ts";
export { createClient, deadlineFrom, type CallOptions, type ServiceClient } from "./grpc-client.ts";
export { startGrpcServer, DEFAULT_MAX_REQUEST_BYTES, type GrpcServer } from "./server.ts";
export { HEALTH_SERVICE, REFLECTION_SERVICES } from "./reflection.ts";
export { reflectionClient, ReflectionLookupError, type ReflectionClient } from "./reflection-client.ts";
export { transportError, transportErrorInterceptor, type CallObserver } from "./transport-errors.ts";
export { startMetrics, Counter, Gauge, Histogram, type Metrics, type MetricsOptions } from "./metrics.ts";
export { outcomeLabel, rpcDurationObserver } from "./rpc-metrics.ts";
export { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, templateSubject, parseTemplateSubject } from "./log-layout.ts";
export {
  ETCD_ROOT, PARTITION_COUNT_KEY, ASSIGNMENT_PREFIX, MEMBER_PREFIX, assignmentKey, memberKey,
  Assignment, Member, parseSiteShardKey,
} from "./cluster-layout.ts";
export { ensureTemplateStream, encodeTemplateEvent, TEMPLATE_MSGS_PER_SUBJECT, decodeTemplateEvent, type TemplateStreamOptions } from "./template-log.ts";
export { stopOnSignals } from "./lifecycle.ts";
export { AUDIT_STREAM, AUDIT_SUBJECT_ROOT, GATEWAY_ID_PATTERN, auditSubject } from "./log-layout.ts";
export {
  ensureAuditStream, AUDIT_MAX_AGE_DAYS_DEFAULT, hashEventBytes, sealAuditEvent, decodeAuditRecord, decodeAuditEvent, readAuditStream,
  type AuditStreamOptions, type StoredAuditMessage, type ReadAuditOptions, type ReadAuditResult,
} from "./audit-log.ts";
export { verifyAuditChains, ChainVerifier, VERIFY_LIMITS, type ChainInput, type ChainBreak, type ChainReport, type VerifyReport, type BreakKind } from "./audit-chain.ts";
export {
  failureClass, isUnreachable, shouldTryAnother, EXTRACTORS, COORDINATORS, REPLICAS, GATEWAYS, type FailureClass, type UpstreamKind,
} from "./retry-policy.ts";
export { UpstreamPool, UNBOUNDED, type PoolLimits, type PoolOptions } from "./upstream-pool.ts";
export { UpstreamHealth } from "./upstream-health.ts";
export { isStreamNotFound, isNoMessage, isNoResponders } from "./jetstream-errors.ts";
