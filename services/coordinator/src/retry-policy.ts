import { ErrorCode } from "@taj/proto";
import type { AppError } from "@taj/common";

/**
 * The one decision on a failed replica call. A bad request fails the same way on every
 * replica, so it ends the search with its own code; anything else (unreachable, deadline,
 * partition not held there, internal) means "this replica cannot answer now": try another.
 */
export function isRequestFault(err: AppError): boolean {
  switch (err.code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.UNSUPPORTED_MODALITY:
      return true;
    default:
      return false;
  }
}
