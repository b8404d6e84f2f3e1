import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { ErrorCode } from "@taj/proto";
import { AppError, errorCodeName, isClientRefusal, toGrpcError } from "./errors.ts";
import type { PeerCertificate } from "node:tls";
import type { Logger } from "./logger.ts";
import { peerKindOf, type PeerKind } from "./tls.ts";
import { keepByteOrderMarks } from "./text-encoding.ts";

// Every service decodes its requests through this module: configure protobuf-es's text decoding once here.
keepByteOrderMarks();

/** What a handler may know of its call: the deadline, cancellation, the peer's metadata and TLS identity. */
export interface CallContext {
  /** Milliseconds since epoch, or Infinity when the caller set no deadline. */
  deadline: number;
  signal: AbortSignal;
  metadata: grpc.Metadata;
  /** The TLS session's peer certificate (as presented: chain checks are the caller's), when there is one. */
  peerCertificate: PeerCertificate | undefined;
  /** Peer address (host:port), for rate limits of calls that carry no identity; never logged with personal data. */
  peerAddress: string;
  /**
   * Set (to the expected message type) when the request bytes were not a valid message and the
   * service asked to see such calls (AddServiceOptions.malformedRequests "handler"); the request
   * is then an empty message that must not be acted on.
   */
  malformedRequest: string | undefined;
}

type UnaryHandler<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: CallContext,
) => Promise<MessageInitShape<O>>;

/**
 * A bidirectional-streaming method: reads the requests it wants (the call stops reading from the
 * network while it does not: HTTP/2 flow control pushes back on the client) and yields responses
 * (each written before the next is asked for, waiting while the peer is slow). Returning ends the
 * stream OK; throwing ends it with the error's status. Request bytes that are not a valid message
 * make the iteration throw INVALID_ARGUMENT: such a message has nothing to be answered by.
 */
type BidiHandler<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: CallContext,
) => AsyncIterable<MessageInitShape<O>>;

/** An implementation of every method of a generated service (unary or bidi streaming), keyed by local name. */
export type ServiceImpl<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? BidiHandler<I, O>
    : S[K] extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? UnaryHandler<I, O>
      : never;
};

/** Client and server streaming have no user yet: refused when a service is registered or a client built. */
function isServed(method: DescMethod): boolean {
  return method.methodKind === "unary" || method.methodKind === "bidi_streaming";
}

function deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  if (d instanceof Date) return d.getTime();
  return Number.isFinite(d) ? d : Infinity;
}

/**
 * What a server gets for request bytes that are not a valid message (truncated, a wrong wire
 * type, a bad tag, invalid UTF-8). Left to throw, grpc-js would answer INTERNAL itself; this way
 * addService answers INVALID_ARGUMENT with its stable code.
 */
class MalformedRequest {
  constructor(readonly typeName: string) {}
}

type Request = MessageShape<DescMessage> | MalformedRequest;

/** grpc-js method definitions built from a protobuf-es service descriptor (path /pkg.Svc/Method). */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Request, MessageShape<DescMessage>>> = {};
  for (const method of service.methods) {
    if (!isServed(method)) throw new Error(`${service.typeName}.${method.name}: ${method.methodKind} methods are not supported`);
    const bidi = method.methodKind === "bidi_streaming";
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: bidi,
      responseStream: bidi,
      requestSerialize: (m: Request) => {
        if (m instanceof MalformedRequest) throw new Error("a malformed request cannot be sent");
        return Buffer.from(toBinary(method.input, m));
      },
      requestDeserialize: (b: Buffer): Request => {
        try {
          return fromBinary(method.input, b);
        } catch {
          return new MalformedRequest(method.input.typeName);
        }
      },
      responseSerialize: (m: MessageShape<DescMessage>) => Buffer.from(toBinary(method.output, m)),
      responseDeserialize: (b: Buffer) => fromBinary(method.output, b),
    };
  }
  return definition as grpc.ServiceDefinition;
}

export interface AddServiceOptions {
  /**
   * Peer kinds (certificate OU, see ALLOWED_PEERS) admitted to every method of this service; any
   * other caller gets PERMISSION_DENIED before its request is looked at. Unset = no identity check
   * here (the public gateway, whose own authentication decides). Only meaningful on a server whose
   * credentials require a client certificate (serverCredentials(..., { requireClientCert: true })):
   * there the chain was verified at the handshake, so the OU read here is the CA's word.
   */
  allowedPeers?: readonly PeerKind[];
  /**
   * What becomes of request bytes that are not a valid message. "reject" (default): INVALID_ARGUMENT
   * at once, before the handler. "handler": the handler runs with an empty message and
   * `CallContext.malformedRequest` set, and must refuse it itself — for the public gateway, whose
   * one wrapper authenticates and audits every call, garbage included, before refusing it.
   */
  malformedRequests?: "reject" | "handler";
}

/**
 * What a refusal's cause adds to its log line. A relayed gRPC error (it has metadata) only repeats
 * the code and message already logged; any other cause is reduced to its first line.
 */
function reasonOf(cause: unknown): { reason?: string } {
  if (!(cause instanceof Error) || "metadata" in cause) return {};
  return { reason: (cause.message.split("\n")[0] ?? "").slice(0, 200) };
}

/** The refusal of a request that is not a valid message of its type. */
export function malformedRequestError(typeName: string): AppError {
  return new AppError(ErrorCode.INVALID_ARGUMENT, `the request is not a valid ${typeName} message`);
}

/**
 * Adapts async handlers to grpc-js. Every failure leaves through AppError, so callers always get
 * a stable code and never a stack trace or an internal message.
 */
export function addService<S extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<S>,
  impl: ServiceImpl<S>,
  logger: Logger,
  options: AddServiceOptions = {},
): void {
  const allowed = options.allowedPeers === undefined ? undefined : new Set<PeerKind>(options.allowedPeers);
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, unknown>)[method.localName];
    if (typeof handler !== "function") throw new Error(`no handler for ${service.typeName}.${method.name}`);
    const served: ServedMethod = { method, logger, allowed, options };
    handlers[method.localName] = method.methodKind === "bidi_streaming"
      ? (call: grpc.ServerDuplexStream<Request, MessageShape<DescMessage>>) => serveBidi(served, handler as BidiHandler<DescMessage, DescMessage>, call)
      : (call: grpc.ServerUnaryCall<Request, MessageShape<DescMessage>>, callback: grpc.sendUnaryData<MessageShape<DescMessage>>) =>
          serveUnary(served, handler as UnaryHandler<DescMessage, DescMessage>, call, callback);
  }
  server.addService(grpcServiceDefinition(service), handlers);
}

interface ServedMethod {
  method: DescMethod;
  logger: Logger;
  allowed: Set<PeerKind> | undefined;
  options: AddServiceOptions;
}

type ServerCall = grpc.ServerUnaryCall<Request, unknown> | grpc.ServerDuplexStream<Request, unknown>;

function contextOf(call: ServerCall): CallContext {
  const abort = new AbortController();
  call.on("cancelled", () => abort.abort());
  const cert = call.getAuthContext()?.sslPeerCertificate;
  return {
    deadline: deadlineOf(call),
    signal: abort.signal,
    metadata: call.metadata,
    // An empty object is what node gives when the peer sent no certificate.
    peerCertificate: cert && cert.raw ? cert : undefined,
    peerAddress: call.getPeer(),
    malformedRequest: undefined,
  };
}

/** The refusal of a peer whose kind the service does not admit, or undefined when it may call. */
function peerRefusal({ method, logger, allowed }: ServedMethod, context: CallContext): AppError | undefined {
  if (!allowed) return undefined;
  const kind = peerKindOf(context.peerCertificate);
  if (kind !== undefined && allowed.has(kind)) return undefined;
  // The kind only (never the name or address): enough to spot a misrouted service.
  logger.warn({ rpc: method.name, peerKind: kind ?? "none" }, "rpc refused: peer kind not allowed");
  return new AppError(ErrorCode.PERMISSION_DENIED, "this service does not accept calls from this peer");
}

function logFailure({ method, logger }: ServedMethod, err: unknown, started: number): AppError {
  const appError = AppError.from(err);
  const fields = { rpc: method.name, code: appError.code, codeName: errorCodeName(appError.code), ms: Math.round(performance.now() - started) };
  if (isClientRefusal(appError.code)) {
    // Expected (NO_FACE, INVALID_ID, IMAGE_TOO_LARGE, ... here or relayed from a peer): one
    // line, no stack; a local cause (e.g. the decoder's complaint) as its message only.
    logger.info({ ...fields, ...reasonOf(appError.cause) }, "rpc rejected");
  } else if (appError.cause !== undefined && !(appError.cause instanceof AppError)) {
    logger.warn({ ...fields, err: appError.cause }, "rpc failed");
  } else {
    logger.info(fields, "rpc rejected");
  }
  return appError;
}

function serveUnary(
  served: ServedMethod,
  handler: UnaryHandler<DescMessage, DescMessage>,
  call: grpc.ServerUnaryCall<Request, MessageShape<DescMessage>>,
  callback: grpc.sendUnaryData<MessageShape<DescMessage>>,
): void {
  const { method, logger, options } = served;
  const started = performance.now();
  const context = contextOf(call);
  const refused = peerRefusal(served, context);
  if (refused) {
    callback(toGrpcError(refused));
    return;
  }
  let request = call.request;
  if (request instanceof MalformedRequest) {
    if (options.malformedRequests !== "handler") {
      logger.info({ rpc: method.name, code: ErrorCode.INVALID_ARGUMENT }, "rpc rejected: malformed request");
      callback(toGrpcError(malformedRequestError(request.typeName)));
      return;
    }
    context.malformedRequest = request.typeName;
    request = create(method.input);
  }
  handler(request, context).then(
    (response) => callback(null, create(method.output, response)),
    (err: unknown) => callback(toGrpcError(logFailure(served, err, started))),
  );
}

/** The call's requests as messages; a malformed one throws (it carries nothing to answer by). */
async function* requestsOf(call: grpc.ServerDuplexStream<Request, unknown>): AsyncGenerator<MessageShape<DescMessage>> {
  // Not destroyed once read to its end: a destroyed duplex could no longer send its responses and status.
  for await (const request of call.iterator({ destroyOnReturn: false }) as AsyncIterable<Request>) {
    if (request instanceof MalformedRequest) throw malformedRequestError(request.typeName);
    yield request;
  }
}

/** Resolves once `call` can take more output, or when the call is cancelled (then nothing more is written). */
function writable(call: grpc.ServerDuplexStream<Request, unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    call.on("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function serveBidi(
  served: ServedMethod,
  handler: BidiHandler<DescMessage, DescMessage>,
  call: grpc.ServerDuplexStream<Request, MessageShape<DescMessage>>,
): void {
  const started = performance.now();
  const context = contextOf(call);
  // A cancelled call's readable side may never end: destroying it ends the handler's reading.
  context.signal.addEventListener("abort", () => call.destroy(), { once: true });
  const refused = peerRefusal(served, context);
  if (refused) {
    call.emit("error", toGrpcError(refused));
    return;
  }
  void (async () => {
    try {
      for await (const response of handler(requestsOf(call), context)) {
        if (context.signal.aborted) return;
        if (!call.write(create(served.method.output, response))) await writable(call, context.signal);
      }
      if (!context.signal.aborted) call.end();
    } catch (err) {
      const appError = logFailure(served, err, started);
      // The stream's "error" handler (grpc-js) turns this into the call's status and ends it.
      if (!context.signal.aborted) call.emit("error", toGrpcError(appError));
    }
  })();
}
