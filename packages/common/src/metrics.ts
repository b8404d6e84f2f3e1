import { createServer, type Server } from "node:http";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";
import type { Logger } from "./logger.ts";

export interface Metrics {
  registry: Registry;
  rpcDuration: Histogram<"rpc" | "code">;
  close(): Promise<void>;
  port: number;
  /**
   * What /readyz says: the gRPC server's own health (pass to startGrpcServer's onServingChange).
   * Kubernetes' grpc probe speaks plaintext only, and every gRPC port is TLS: probes use this instead.
   */
  setReady: (ready: boolean) => void;
}

/**
 * Prometheus registry with process metrics and the per-RPC histogram every service shares,
 * served on /metrics; /healthz answers 200 while the process runs, /readyz 200 while its gRPC
 * server says SERVING (503 otherwise).
 */
export async function startMetrics(service: string, port: number, host: string, logger: Logger): Promise<Metrics> {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const rpcDuration = new Histogram({
    name: "taj_rpc_duration_seconds",
    help: "Server-side duration of gRPC calls",
    labelNames: ["rpc", "code"] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let ready = false;
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
  return {
    registry,
    rpcDuration,
    port: boundPort,
    setReady: (r) => {
      ready = r;
    },
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

export { Counter, Histogram };
