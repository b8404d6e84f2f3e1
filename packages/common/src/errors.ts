import { status, Metadata, type ServiceError } from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ErrorDetailSchema, type Box, type ErrorDetail } from "@taj/proto";

export const ERROR_CODE_KEY = "taj-error-code";
export const ERROR_DETAIL_KEY = "taj-error-detail-bin";

/** Name of a code as callers see it in metadata: ERROR_CODE_NO_FACE -> "NO_FACE". */
export function errorCodeName(code: ErrorCode): string {
  return ErrorCode[code] ?? "UNSPECIFIED";
}

/**
 * The one error type services throw. `message` is shown to callers, so it must never hold
 * internals or personal data; put those in `cause`, which is logged but never sent.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly faces: Box[];
  /** For MULTIPLE_FACES: faces[i]'s detector confidence. */
  readonly faceDetectionScores: number[];
  /** For RATE_LIMITED and OVERLOADED: when a retry may succeed; 0 when not given. */
  readonly retryAfterMs: number;
  /** For RECORD_SEVERAL_IMAGES: how many images of the modality the record holds. */
  readonly recordImages: number;

  constructor(
    code: ErrorCode, message: string,
    options: { cause?: unknown; faces?: Box[]; faceDetectionScores?: number[]; retryAfterMs?: number; recordImages?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.faces = options.faces ?? [];
    this.faceDetectionScores = options.faceDetectionScores ?? [];
    this.retryAfterMs = options.retryAfterMs ?? 0;
    this.recordImages = options.recordImages ?? 0;
  }

  /** Any thrown value as an AppError; unknown errors become INTERNAL with a generic message. */
  static from(err: unknown): AppError {
    if (err instanceof AppError) return err;
    const remote = fromServiceError(err);
    if (remote) return remote;
    return new AppError(ErrorCode.INTERNAL, "internal error", { cause: err });
  }
}

/** The single place where an ErrorCode becomes a gRPC status. */
export function grpcStatusOf(code: ErrorCode): status {
  switch (code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.INVALID_ID:
    case ErrorCode.UNSUPPORTED_MODALITY:
    case ErrorCode.IMAGE_EMPTY:
    case ErrorCode.IMAGE_UNSUPPORTED_FORMAT:
    case ErrorCode.IMAGE_CORRUPT:
    case ErrorCode.NO_FACE:
    case ErrorCode.MULTIPLE_FACES:
    case ErrorCode.FACE_TOO_SMALL:
    case ErrorCode.BOX_MATCHES_NO_FACE:
    case ErrorCode.CASE_REF_REQUIRED:
    case ErrorCode.CANDIDATE_NOT_RETURNED:
    case ErrorCode.INVALID_PAGE_TOKEN:
    case ErrorCode.REGION_TOO_SMALL:
    case ErrorCode.IMAGE_NEAR_UNIFORM:
    case ErrorCode.FACE_QUALITY_LOW:
    case ErrorCode.INVALID_BODY_LOCATION:
    case ErrorCode.RECORD_MALFORMED:
    case ErrorCode.RECORD_UNSUPPORTED:
    case ErrorCode.RECORD_NO_MATCHING_IMAGE:
    case ErrorCode.RECORD_SEVERAL_IMAGES:
      return status.INVALID_ARGUMENT;
    case ErrorCode.IMAGE_TOO_LARGE:
    case ErrorCode.RATE_LIMITED:
    case ErrorCode.OVERLOADED:
      return status.RESOURCE_EXHAUSTED;
    case ErrorCode.NOT_FOUND:
    case ErrorCode.SEARCH_NOT_FOUND:
      return status.NOT_FOUND;
    case ErrorCode.SETTINGS_REVISION_CHANGED:
      return status.ABORTED;
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.AUDIT_UNAVAILABLE:
    case ErrorCode.MODEL_UNAVAILABLE:
      return status.UNAVAILABLE;
    case ErrorCode.DEADLINE_EXCEEDED:
      return status.DEADLINE_EXCEEDED;
    case ErrorCode.UNAUTHENTICATED:
      return status.UNAUTHENTICATED;
    case ErrorCode.PERMISSION_DENIED:
      return status.PERMISSION_DENIED;
    case ErrorCode.UNSPECIFIED:
    case ErrorCode.INTERNAL:
      return status.INTERNAL;
  }
}

/**
 * Whether the code refuses the caller's request (bad input, unknown id, no right, over a limit), as
 * opposed to a failure of ours or of a dependency. A refusal is expected: logged as one line at
 * info, never as an incident.
 */
export function isClientRefusal(code: ErrorCode): boolean {
  switch (grpcStatusOf(code)) {
    case status.INVALID_ARGUMENT:
    case status.NOT_FOUND:
    case status.RESOURCE_EXHAUSTED:
    case status.UNAUTHENTICATED:
    case status.PERMISSION_DENIED:
    case status.ABORTED:
      return true;
    default:
      return false;
  }
}

/** For a gRPC status that arrived without our metadata (transport failures, deadlines). */
function codeOfStatus(s: status): ErrorCode {
  switch (s) {
    case status.DEADLINE_EXCEEDED:
    case status.CANCELLED:
      return ErrorCode.DEADLINE_EXCEEDED;
    case status.UNAVAILABLE:
      return ErrorCode.UNAVAILABLE;
    case status.NOT_FOUND:
      return ErrorCode.NOT_FOUND;
    case status.INVALID_ARGUMENT:
      return ErrorCode.INVALID_ARGUMENT;
    case status.UNAUTHENTICATED:
      return ErrorCode.UNAUTHENTICATED;
    case status.PERMISSION_DENIED:
      return ErrorCode.PERMISSION_DENIED;
    case status.RESOURCE_EXHAUSTED:
      // Our servers label their own RESOURCE_EXHAUSTED (IMAGE_TOO_LARGE, RATE_LIMITED, OVERLOADED;
      // an oversized request too, by the transport interceptor); an unlabelled one comes from
      // something between (a proxy's quota or stream limit): no capacity now, retry later.
      return ErrorCode.OVERLOADED;
    default:
      return ErrorCode.INTERNAL;
  }
}

export interface GrpcErrorPayload {
  code: status;
  details: string;
  metadata: Metadata;
}

/** What a caller is told of an error: its code and safe message, never its cause. */
export function errorDetailOf(err: AppError): ErrorDetail {
  return create(ErrorDetailSchema, { code: err.code, message: err.message, faces: err.faces, faceDetectionScores: err.faceDetectionScores, retryAfterMs: err.retryAfterMs, recordImages: err.recordImages });
}

export function toGrpcError(err: AppError): GrpcErrorPayload {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_KEY, errorCodeName(err.code));
  const detail = errorDetailOf(err);
  metadata.set(ERROR_DETAIL_KEY, Buffer.from(toBinary(ErrorDetailSchema, detail)));
  return { code: grpcStatusOf(err.code), details: `${errorCodeName(err.code)}: ${err.message}`, metadata };
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "metadata" in err;
}

/** Rebuilds the AppError a downstream service raised, so it can pass through unchanged. */
export function fromServiceError(err: unknown): AppError | undefined {
  if (!isServiceError(err)) return undefined;
  const raw = err.metadata?.get(ERROR_DETAIL_KEY)[0];
  if (raw instanceof Buffer) {
    const detail = fromBinary(ErrorDetailSchema, raw);
    return new AppError(detail.code, detail.message, {
      cause: err, faces: detail.faces, faceDetectionScores: detail.faceDetectionScores, retryAfterMs: detail.retryAfterMs, recordImages: detail.recordImages,
    });
  }
  const code = codeOfStatus(err.code);
  const message = code === ErrorCode.INTERNAL ? "internal error" : describe(code);
  return new AppError(code, message, { cause: err });
}

function describe(code: ErrorCode): string {
  switch (code) {
    case ErrorCode.DEADLINE_EXCEEDED:
      return "the deadline expired before the work was done";
    case ErrorCode.UNAVAILABLE:
      return "a required service is unavailable; retry";
    default:
      return errorCodeName(code).toLowerCase().replaceAll("_", " ");
  }
}
