import { createLogger, loadConfig, startMetrics } from "@taj/common";
import { ExtractorEnv } from "./config.ts";
import { startExtractor } from "./server.ts";

const env = loadConfig(ExtractorEnv);
const logger = createLogger("extractor", env.LOG_LEVEL);
const metrics = await startMetrics("extractor", env.METRICS_PORT, env.METRICS_HOST, logger);
const { server } = await startExtractor(env, metrics.registry, logger);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, "shutting down");
  await server.shutdown();
  await metrics.close();
  process.exit(0);
}
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
