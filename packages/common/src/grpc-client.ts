import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { grpcServiceDefinition } from "./grpc-service.ts";
import { AppError } from "./errors.ts";

export interface CallOptions {
  /** Absolute deadline (ms since epoch); pass the incoming call's deadline to honour it end to end. */
  deadline?: number;
  timeoutMs?: number;
  metadata?: grpc.Metadata;
  signal?: AbortSignal;
}

type UnaryMethod<I extends DescMessage, O extends DescMessage> = (
  request: MessageInitShape<I>,
  options?: CallOptions,
) => Promise<MessageShape<O>>;

/** A unary method as makeGenericClientConstructor builds it: (request, metadata, options, callback). */
type RawUnary = (
  request: MessageShape<DescMessage>,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response: MessageShape<DescMessage>) => void,
) => grpc.ClientUnaryCall;

/**
 * One bidirectional stream. `write` resolves once the message is handed to the transport, and
 * waits while grpc-js's buffer is full (the server stopped reading): the caller's backpressure.
 * `responses` ends when the server ends the stream OK and throws its status as AppError otherwise.
 */
export interface BidiCall<I extends DescMessage, O extends DescMessage> {
  write(request: MessageInitShape<I>): Promise<void>;
  /** No more requests: the server answers what it has and ends the stream. */
  end(): void;
  cancel(): void;
  responses: AsyncIterable<MessageShape<O>>;
}

type BidiMethod<I extends DescMessage, O extends DescMessage> = (options?: CallOptions) => BidiCall<I, O>;

/** A bidi method as makeGenericClientConstructor builds it: (metadata, options). */
type RawBidi = (metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientDuplexStream<MessageShape<DescMessage>, MessageShape<DescMessage>>;

export type ServiceClient<S extends GenServiceMethods> = {
  [K in keyof S]: S[K] extends { methodKind: "bidi_streaming"; input: infer I extends DescMessage; output: infer O extends DescMessage }
    ? BidiMethod<I, O>
    : S[K] extends { methodKind: "unary"; input: infer I extends DescMessage; output: infer O extends DescMessage }
      ? UnaryMethod<I, O>
      : never;
} & { close(): void; address: string };

/** The service config every internal client uses (see createClient). */
export const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

export function deadlineFrom(options: CallOptions | undefined): grpc.Deadline {
  const candidates = [options?.deadline ?? Infinity];
  if (options?.timeoutMs !== undefined) candidates.push(Date.now() + options.timeoutMs);
  const deadline = Math.min(...candidates);
  return Number.isFinite(deadline) ? new Date(deadline) : Infinity;
}

/**
 * A promise-returning client for a protobuf-es service; errors arrive as AppError. Credentials are
 * mandatory (channelCredentials in tls.ts): every hop is mutual TLS.
 */
export function createClient<S extends GenServiceMethods>(
  service: GenService<S>,
  address: string,
  credentials: grpc.ChannelCredentials,
): ServiceClient<S> {
  if (!credentials._isSecure()) throw new Error("createClient: insecure credentials are refused");
  const Ctor = grpc.makeGenericClientConstructor(grpcServiceDefinition(service), service.typeName);
  const raw = new Ctor(address, credentials, {
    // grpc-js's default policy is pick_first: a name that resolves to every pod of a headless
    // Service (or an ipv4:a:p,b:p target) would pin this client to one of them. round_robin keeps
    // a subchannel to each address and spreads the calls over those that are ready.
    "grpc.service_config": ROUND_ROBIN,
    // No TXT lookup for a service config: ours is the one above, for every name.
    "grpc.service_config_disable_resolution": 1,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.max_receive_message_length": 32 * 1024 * 1024,
  });
  const client: Record<string, unknown> = {
    address,
    close: () => raw.close(),
  };
  for (const method of service.methods) {
    if (method.methodKind === "bidi_streaming") {
      const open = (raw as unknown as Record<string, RawBidi>)[method.localName]!.bind(raw);
      client[method.localName] = (options?: CallOptions) => bidiCall(method, open, options);
      continue;
    }
    const fn = (raw as unknown as Record<string, RawUnary>)[method.localName]!.bind(raw);
    client[method.localName] = (request: MessageInitShape<DescMessage>, options?: CallOptions) =>
      new Promise((resolve, reject) => {
        const call = fn(
          create(method.input, request),
          options?.metadata ?? new grpc.Metadata(),
          { deadline: deadlineFrom(options) },
          (err: grpc.ServiceError | null, response: MessageShape<DescMessage>) =>
            err ? reject(AppError.from(err)) : resolve(response),
        );
        options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
      });
  }
  return client as ServiceClient<S>;
}

function bidiCall(method: DescMethod, open: RawBidi, options: CallOptions | undefined): BidiCall<DescMessage, DescMessage> {
  const call = open(options?.metadata ?? new grpc.Metadata(), { deadline: deadlineFrom(options) });
  options?.signal?.addEventListener("abort", () => call.cancel(), { once: true });
  // Until `responses` is read, a stream error would be an unhandled "error" event.
  let failure: AppError | undefined;
  call.on("error", (err: grpc.ServiceError) => (failure ??= AppError.from(err)));
  async function* responses(): AsyncGenerator<MessageShape<DescMessage>> {
    try {
      for await (const response of call as AsyncIterable<MessageShape<DescMessage>>) yield response;
    } catch (err) {
      throw failure ?? AppError.from(err);
    }
    if (failure) throw failure;
  }
  return {
    write: (request) =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        // The callback runs once the message left the buffer; write() returning false means the
        // buffer is full, so waiting for the callback is waiting for the server to read.
        call.write(create(method.input, request), (err: Error | null | undefined) => (err ? reject(failure ?? AppError.from(err)) : resolve()));
      }),
    end: () => call.end(),
    cancel: () => call.cancel(),
    responses: responses(),
  };
}
