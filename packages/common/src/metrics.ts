import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Logger } from "./logger.ts";
import { watchCertificateExpiry, type TlsFiles } from "./tls.ts";

export interface Metrics {
  registry: Registry;
  rpcDuration: Histogram<"rpc" | "code">;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
  port: number;
  /**
   * What /readyz says: the gRPC server's own health (pass to startGrpcServer's onServingChange).
   * Kubernetes' grpc probe speaks plaintext only, and every gRPC port is TLS: probes use this instead.
   */
  setReady: (ready: boolean) => void;
}

export interface MetricsOptions {
  /** The process's TLS files: taj_tls_certificate_expiry_seconds reads the certificates it serves. */
  tls: TlsFiles;
  /**
   * Labels on every series besides `service`: the site, and the shard id of a replica. Set by the
   * process, which knows them, rather than by each scrape config; they are topology (a handful of
   * values), never a record or a caller.
   */
  labels?: Record<string, string>;
}

/**
 * Prometheus registry with process metrics, the per-RPC histogram every gRPC server observes
 * (startGrpcServer's `metrics`), and the expiry of the certificates the process serves, served on
 * /metrics; /healthz answers 200 while the process runs, /readyz 200 while its gRPC server says
 * SERVING (503 otherwise).
 */
export async function startMetrics(service: string, port: number, host: string, logger: Logger, options: MetricsOptions): Promise<Metrics> {
  const registry = new Registry();
  registry.setDefaultLabels({ ...options.labels, service });
  collectDefaultMetrics({ register: registry });
  const expiry = watchCertificateExpiry(options.tls);
  new Gauge({
    name: "taj_tls_certificate_expiry_seconds",
    help: "Seconds until the notAfter of the certificate in use: identity = the process's own (what its servers present), ca = the cluster CA (earliest of a bundle)",
    labelNames: ["certificate"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const now = Date.now();
      const identity = expiry.identityNotAfterMs();
      const ca = expiry.caNotAfterMs();
      if (identity !== undefined) this.set({ certificate: "identity" }, (identity - now) / 1000);
      if (ca !== undefined) this.set({ certificate: "ca" }, (ca - now) / 1000);
    },
  });
  const rpcDuration = new Histogram({
    name: "taj_rpc_duration_seconds",
    help: "Server-side duration of gRPC calls",
    labelNames: ["rpc", "code"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let ready = false;
  new Gauge({
    name: "taj_grpc_serving",
    help: "1 while the process's gRPC server says SERVING (what /readyz answers), 0 otherwise",
    registers: [registry],
    collect() {
      this.set(ready ? 1 : 0);
    },
  });
  const http: Server = createServer((req, res) => {
    if (req.url === "/metrics") {
      registry.metrics().then(
        (body) => res.writeHead(200, { "content-type": registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === "/healthz") {
      res.writeHead(200).end("ok\n");
    } else if (req.url === "/readyz") {
      res.writeHead(ready ? 200 : 503).end(ready ? "serving\n" : "not serving\n");
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => http.listen(port, host, resolve));
  const address = http.address();
  const boundPort = typeof address === "object" && address ? address.port : port;
  logger.info({ metricsPort: boundPort }, "metrics listening");
  const close = () => {
    expiry.close();
    return new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return {
    registry,
    rpcDuration,
    port: boundPort,
    setReady: (r) => {
      ready = r;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

export { Counter, Gauge, Histogram };
