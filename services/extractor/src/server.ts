import { ExtractorService } from "@taj/proto";
import { ALLOWED_PEERS, addService, serverCredentials, startGrpcServer, tlsFilesOf, type GrpcServer, type Logger, type Metrics } from "@taj/common";
import { availableParallelism } from "node:os";
import { Admission } from "./admission.ts";
import { Extractor } from "./extractor.ts";
import { extractHandler } from "./handlers/extract.ts";
import { createExtractorMetrics } from "./metrics.ts";
import { loadModalities } from "./pipeline-config.ts";
import type { ExtractorEnv } from "./config.ts";

/** Loads the models once, then serves ExtractorService (plus health and reflection). */
export async function startExtractor(
  env: Pick<ExtractorEnv, "GRPC_HOST" | "GRPC_PORT" | "TLS_CA_FILE" | "TLS_CERT_FILE" | "TLS_KEY_FILE" | "TLS_RELOAD_INTERVAL_MS" | "MODALITIES_CONFIG" | "MAX_IMAGE_BYTES" | "MAX_IMAGE_PIXELS" | "ORT_THREADS" | "EXTRACT_MAX_IN_FLIGHT" | "EXTRACT_MAX_QUEUED">,
  /** The process's metrics (RPC durations, /readyz) and where the extractor's own go. */
  metrics: Pick<Metrics, "registry" | "rpcDuration" | "setReady">,
  logger: Logger,
): Promise<{ server: GrpcServer; extractor: Extractor; admission: Admission }> {
  const modalities = loadModalities(env.MODALITIES_CONFIG);
  const extractor = await Extractor.create(
    modalities,
    { maxBytes: env.MAX_IMAGE_BYTES, maxPixels: env.MAX_IMAGE_PIXELS },
    env.ORT_THREADS,
  );
  logger.info({ models: extractor.models }, "extraction pipelines loaded");
  const admission = new Admission({
    maxInFlight: env.EXTRACT_MAX_IN_FLIGHT ?? Math.max(1, Math.floor(availableParallelism() / env.ORT_THREADS)),
    maxQueued: env.EXTRACT_MAX_QUEUED,
  });
  const extractorMetrics = createExtractorMetrics(metrics.registry, admission);
  const server = await startGrpcServer({
    host: env.GRPC_HOST,
    port: env.GRPC_PORT,
    logger,
    serviceNames: [ExtractorService.typeName],
    credentials: serverCredentials(tlsFilesOf(env), { requireClientCert: true }),
    metrics,
    register: (s) =>
      addService(s, ExtractorService, { extract: extractHandler(extractor, admission, extractorMetrics) }, logger, { allowedPeers: ALLOWED_PEERS.extractor }),
  });
  return { server, extractor, admission };
}
