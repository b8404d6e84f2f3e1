import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { ErrorCode } from "@taj/proto";
import { AppError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Metrics } from "./metrics.ts";
import { addReflection } from "./reflection.ts";
import { rpcDurationObserver } from "./rpc-metrics.ts";
import { transportErrorInterceptor } from "./transport-errors.ts";

/** Internal servers' receive limit: above the largest image a gateway forwards (MAX_IMAGE_BYTES <= 30 MiB). */
export const DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024;

export interface GrpcServer {
  server: grpc.Server;
  port: number;
  /** Health status of the whole server ("") and of each named service. */
  setServing(serving: boolean): void;
  /** Stops accepting calls, lets running calls finish for up to graceMs, then forces close. */
  shutdown(graceMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Fully qualified names of the services registered, for health and reflection (which lists only these, health and itself). */
  serviceNames: string[];
  register(server: grpc.Server): void;
  /**
   * The process's metrics (every service passes its own; test servers may leave it out): every call
   * of `serviceNames` is observed in taj_rpc_duration_seconds here, in the server itself, so no
   * handler has to remember to, and /readyz follows the health status. test/prometheus.test.ts
   * checks that every service of the local cluster reports RPC durations.
   */
  metrics?: Pick<Metrics, "rpcDuration" | "setReady">;
  /** Told of every health change (besides metrics.setReady). */
  onServingChange?: (serving: boolean) => void;
  /** Mandatory: there is no plaintext port (see serverCredentials in tls.ts). */
  credentials: grpc.ServerCredentials;
  /**
   * Largest request message accepted (grpc.max_receive_message_length); DEFAULT_MAX_REQUEST_BYTES
   * unless given. grpc-js refuses a larger one from its length prefix, before reading it.
   */
  maxRequestBytes?: number;
  /** The answer to a request above maxRequestBytes; IMAGE_TOO_LARGE naming the limit unless given. */
  oversizedRequest?: AppError;
}

/**
 * grpc-js drops every connection ("unloaded credentials") until the certificate provider has read its
 * files, which it starts doing, asynchronously, at bind: a server announced ready before then refused
 * its first callers (seen: a client connecting within ~20 ms of the start got UNAVAILABLE).
 */
async function certificatesLoaded(credentials: grpc.ServerCredentials, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (credentials._getSecureContextOptions() === null) {
    if (Date.now() - started > timeoutMs) throw new Error("startGrpcServer: the TLS certificate files could not be loaded");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Clients resolve a Service name again only when a connection closes: closing each connection after
 * a few minutes (callers reconnect at once, in-flight calls get the grace to finish) lets pods that
 * an autoscaler added receive calls, and lets a rotated certificate reach every long-lived channel.
 */
export const MAX_CONNECTION_AGE_MS = 5 * 60_000;
export const MAX_CONNECTION_AGE_GRACE_MS = 30_000;

/** A gRPC server that also speaks grpc.health.v1 and server reflection, so grpcurl works. */
export async function startGrpcServer(options: StartOptions): Promise<GrpcServer> {
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  const oversized = options.oversizedRequest ?? new AppError(ErrorCode.IMAGE_TOO_LARGE, `the request exceeds ${maxRequestBytes} bytes`);
  const server = new grpc.Server({
    "grpc.max_receive_message_length": maxRequestBytes,
    "grpc.max_connection_age_ms": MAX_CONNECTION_AGE_MS,
    "grpc.max_connection_age_grace_ms": MAX_CONNECTION_AGE_GRACE_MS,
    interceptors: [
      transportErrorInterceptor(oversized, options.metrics && rpcDurationObserver(options.metrics.rpcDuration, options.serviceNames)),
    ],
  });
  options.register(server);
  const health = new HealthImplementation({ "": "NOT_SERVING" });
  health.addToServer(server);
  addReflection(server, options.serviceNames);
  const credentials = options.credentials;
  if (!credentials._isSecure()) throw new Error("startGrpcServer: insecure credentials are refused");
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${options.host}:${options.port}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  await certificatesLoaded(credentials);
  const setServing = (serving: boolean) => {
    const state = serving ? "SERVING" : "NOT_SERVING";
    for (const name of ["", ...options.serviceNames]) health.setStatus(name, state);
    options.metrics?.setReady(serving);
    options.onServingChange?.(serving);
  };
  setServing(true);
  options.logger.info({ port }, "grpc server listening");
  const shutdown = async (graceMs = 5_000) => {
    setServing(false);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
  return { server, port, setServing, shutdown, [Symbol.asyncDispose]: () => shutdown(1_000) };
}
