import { ErrorCode } from "@taj/proto";
import { ERROR_DETAIL_KEY, type AppError } from "./errors.ts";

/**
 * The one retry policy of the cluster: which failed call may be tried on another upstream of the
 * same kind (another extractor, coordinator, shard replica or gateway). Every caller that holds a
 * list of upstreams decides through `shouldTryAnother`; nothing else in the repo matches on codes.
 *
 * A failure falls in exactly one class:
 * - `unreachable`: UNAVAILABLE with no TAJ error detail. The upstream never answered (connection
 *   refused, handshake failed, no address, connection dropped): another one may well answer.
 * - `refused`: the upstream answered UNAVAILABLE / AUDIT_UNAVAILABLE on purpose (detail attached):
 *   it cannot serve this now. Whether another would do better depends on the kind (see below).
 * - `timeout`: DEADLINE_EXCEEDED. Only worth another upstream when the attempt had a budget of its
 *   own, shorter than the call's; when the attempt ran on the caller's whole deadline, none is left.
 * - `busy`: OVERLOADED / RATE_LIMITED. Retry after `retryAfterMs`, not elsewhere at once: moving
 *   the load to the next upstream only spreads the overload (the pool queues for a slot instead).
 * - `upstream`: INTERNAL, UNSPECIFIED, UNAUTHENTICATED, PERMISSION_DENIED. The upstream failed, or
 *   refused our identity; not the request's fault, and not the end caller's either.
 * - `request`: everything else (INVALID_ARGUMENT and the image codes, NOT_FOUND, IMAGE_TOO_LARGE,
 *   ...): the request itself is wrong, every upstream would answer the same. Never retried.
 */
export type FailureClass = "unreachable" | "refused" | "timeout" | "busy" | "upstream" | "request";

/** What a kind of upstream is like, which is all the policy needs to know about it. */
export interface UpstreamKind {
  /** A deliberate UNAVAILABLE means "not I" (a replica lacks the partition, an extractor is not ready), not "nobody". */
  refusalIsLocal: boolean;
  /** An internal failure belongs to that upstream's state, not to the request (replicas hold different data). */
  faultIsLocal: boolean;
  /** Each attempt has its own budget, shorter than the call's: a timed-out upstream may be passed over. */
  attemptHasOwnDeadline: boolean;
}

/** Extractors are identical and stateless: one not ready is passed over; a crash on an image would repeat. */
export const EXTRACTORS: UpstreamKind = { refusalIsLocal: true, faultIsLocal: false, attemptHasOwnDeadline: false };
/**
 * Coordinators all see the same shards: one that answers "partitions could not be searched" would
 * be repeated by the next, which would only double the wait; only an unreachable one is passed over.
 */
export const COORDINATORS: UpstreamKind = { refusalIsLocal: false, faultIsLocal: false, attemptHasOwnDeadline: false };
/**
 * Shard replicas hold different partitions and state, and each call has SHARD_CALL_TIMEOUT_MS within
 * the search's deadline: whatever is not the request's fault goes to another replica.
 */
export const REPLICAS: UpstreamKind = { refusalIsLocal: true, faultIsLocal: true, attemptHasOwnDeadline: true };
/**
 * Gateways, as a client sees them: each site's gateway can be cut off (AUDIT_UNAVAILABLE, template
 * log unavailable) while the other's answers, and a client gives each gateway a budget of its own.
 */
export const GATEWAYS: UpstreamKind = { refusalIsLocal: true, faultIsLocal: false, attemptHasOwnDeadline: true };

/** True when no TAJ error detail came back: the upstream itself was not reached. */
export function isUnreachable(err: AppError): boolean {
  if (err.code !== ErrorCode.UNAVAILABLE) return false;
  const cause = err.cause as { metadata?: { get(key: string): unknown[] } } | undefined;
  return (cause?.metadata?.get(ERROR_DETAIL_KEY).length ?? 0) === 0;
}

export function failureClass(err: AppError): FailureClass {
  switch (err.code) {
    case ErrorCode.UNAVAILABLE:
      return isUnreachable(err) ? "unreachable" : "refused";
    case ErrorCode.AUDIT_UNAVAILABLE:
    case ErrorCode.MODEL_UNAVAILABLE:
      return "refused";
    case ErrorCode.DEADLINE_EXCEEDED:
      return "timeout";
    case ErrorCode.OVERLOADED:
    case ErrorCode.RATE_LIMITED:
      return "busy";
    case ErrorCode.INTERNAL:
    case ErrorCode.UNSPECIFIED:
    case ErrorCode.UNAUTHENTICATED:
    case ErrorCode.PERMISSION_DENIED:
      return "upstream";
    default:
      return "request";
  }
}

/** The one decision: may this failed call be tried on another upstream of this kind? */
export function shouldTryAnother(err: AppError, kind: UpstreamKind): boolean {
  switch (failureClass(err)) {
    case "unreachable":
      return true;
    case "refused":
      return kind.refusalIsLocal;
    case "timeout":
      return kind.attemptHasOwnDeadline;
    case "upstream":
      return kind.faultIsLocal;
    case "busy":
    case "request":
      return false;
  }
}
