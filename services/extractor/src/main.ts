import { createLogger, loadConfig, startMetrics, stopOnSignals } from "@taj/common";
import { ExtractorEnv } from "./config.ts";
import { startExtractor } from "./server.ts";

const env = loadConfig(ExtractorEnv);
const logger = createLogger("extractor", env.LOG_LEVEL);
const metrics = await startMetrics("extractor", env.METRICS_PORT, env.METRICS_HOST, logger);
const { server } = await startExtractor(env, metrics.registry, logger, metrics.setReady);

stopOnSignals(logger, async () => {
  await server.shutdown();
  await metrics.close();
});
