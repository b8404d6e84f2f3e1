import { z } from "zod";
import { commonEnv, port, siteName } from "@taj/common";

export const ExtractorEnv = z.object({
  ...commonEnv,
  /** The site it serves (a label on its metrics: the gateways of this site call it first). */
  SITE: siteName,
  GRPC_HOST: z.string().default("127.0.0.1"),
  GRPC_PORT: port.default(7200),
  METRICS_HOST: z.string().default("127.0.0.1"),
  /** JSON file of modality pipelines; unset = the built-in face pipeline only. */
  MODALITIES_CONFIG: z.string().optional(),
  MAX_IMAGE_BYTES: z.coerce.number().int().positive().default(15 * 1024 * 1024),
  MAX_IMAGE_PIXELS: z.coerce.number().int().positive().default(40_000_000),
  /** onnxruntime intra-op threads per model session. */
  ORT_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  /** Extractions at once in this process; unset = the cores Node sees / ORT_THREADS (at least 1). */
  EXTRACT_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(1_000).optional(),
  /** Extractions waiting for a slot; beyond that OVERLOADED with retry advice. */
  EXTRACT_MAX_QUEUED: z.coerce.number().int().min(0).max(10_000).default(16),
});
export type ExtractorEnv = z.infer<typeof ExtractorEnv>;
