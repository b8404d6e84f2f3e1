import * as grpc from "@grpc/grpc-js";
import { ErrorCode } from "@taj/proto";
import { AppError, ERROR_CODE_KEY, toGrpcError } from "./errors.ts";

/**
 * grpc-js answers some calls itself, before any handler runs: a message above the receive limit
 * (RESOURCE_EXHAUSTED "Received message larger than max (N vs M)"), a payload that does not
 * decompress, an unknown grpc-encoding, a malformed grpc-timeout, an expired deadline. Those
 * answers carry grpc-js's own English text and no taj-error-code. This turns each into the
 * AppError a caller can rely on, so every status that leaves a server has a stable code.
 */
type Status = Parameters<grpc.ServerInterceptingCallInterface["sendStatus"]>[0];

export function transportError(status: Status, oversized: AppError): AppError | undefined {
  switch (status.code) {
    case grpc.status.OK:
    case grpc.status.CANCELLED: // the peer is gone: nobody reads the answer
      return undefined;
    case grpc.status.RESOURCE_EXHAUSTED:
      return oversized;
    case grpc.status.DEADLINE_EXCEEDED:
      return new AppError(ErrorCode.DEADLINE_EXCEEDED, "the deadline expired before the work was done");
    case grpc.status.UNAVAILABLE:
      return new AppError(ErrorCode.UNAVAILABLE, "the server is unavailable; retry");
    case grpc.status.INTERNAL:
    case grpc.status.UNIMPLEMENTED: {
      // grpc-js reports the caller's own malformed framing as INTERNAL (bad timeout header, corrupt
      // compressed payload) or UNIMPLEMENTED (unknown encoding, no or two messages in a unary
      // call): the caller, not the server, is at fault.
      const fault = CALLER_FAULTS.find(([pattern]) => pattern.test(status.details));
      if (fault) return new AppError(ErrorCode.INVALID_ARGUMENT, fault[1]);
      return new AppError(ErrorCode.INTERNAL, "internal error");
    }
    default:
      return new AppError(ErrorCode.INTERNAL, "internal error");
  }
}

/** grpc-js's own texts (1.14) for a caller's bad framing, and what the caller is told instead. */
const CALLER_FAULTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^Invalid grpc-timeout/, "the grpc-timeout header is malformed"],
  [/^Failed to decompress/, "the compressed request does not decompress"],
  [/unsupported encoding/, "the request's grpc-encoding is not supported; use identity, gzip or deflate"],
  [/^Received (a second|no) request message/, "a unary call takes exactly one request message"],
  [/^Error deserializing request/, "the request is not a valid message"],
];

/** Told when a call starts (its method path); returns what is told the status finally sent, if anything. */
export type CallObserver = (path: string) => ((status: Status) => void) | undefined;

/**
 * A server interceptor that puts a stable code on the statuses grpc-js sends by itself.
 * grpc-js emits those from inside its base call (`this.sendStatus`), not through the interceptor
 * chain, so the only hook that sees them is the base call's own sendStatus: it is wrapped here.
 * The same hook is the one place that sees every status a server sends, handlers' and grpc-js's
 * alike: `observe` (the RPC duration histogram, see rpc-metrics.ts) is told the final one there.
 * packages/common/test/transport-errors.test.ts pins this against grpc-js upgrades.
 */
export function transportErrorInterceptor(oversized: AppError, observe?: CallObserver): grpc.ServerInterceptor {
  return (method, call) => {
    const send = call.sendStatus.bind(call);
    let done = observe?.(method.path);
    call.sendStatus = (status) => {
      const error = status.metadata?.get(ERROR_CODE_KEY).length ? undefined : transportError(status, oversized);
      const final = error ? toGrpcError(error) : status;
      // Once per call: grpc-js may try to send a second status (e.g. after a cancellation).
      done?.(final);
      done = undefined;
      return send(final);
    };
    return new grpc.ServerInterceptingCall(call);
  };
}
