export { AppError, errorCodeName, fromServiceError, grpcStatusOf, toGrpcError, ERROR_CODE_KEY, ERROR_DETAIL_KEY } from "./errors.ts";
export { validateId, partitionOf, modalityName, modalityFromName, ALL_MODALITIES } from "./ids.ts";
export { createLogger, type Logger } from "./logger.ts";
export { loadConfig, hostPort, port, csv, siteName, commonEnv } from "./config.ts";
export { addService, grpcServiceDefinition, type CallContext, type ServiceImpl } from "./grpc-service.ts";
export { createClient, deadlineFrom, type CallOptions, type ServiceClient } from "./grpc-client.ts";
export { startGrpcServer, type GrpcServer } from "./server.ts";
export { startMetrics, Counter, Histogram, type Metrics } from "./metrics.ts";
export { TEMPLATE_STREAM, TEMPLATE_SUBJECT_ROOT, templateSubject, parseTemplateSubject } from "./log-layout.ts";
export {
  ETCD_ROOT, PARTITION_COUNT_KEY, ASSIGNMENT_PREFIX, MEMBER_PREFIX, assignmentKey, memberKey,
  Assignment, Member, parseSiteShardKey,
} from "./cluster-layout.ts";
export { ensureTemplateStream, encodeTemplateEvent, TEMPLATE_MSGS_PER_SUBJECT, decodeTemplateEvent, type TemplateStreamOptions } from "./template-log.ts";
export { stopOnSignals } from "./lifecycle.ts";
