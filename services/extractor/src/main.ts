import { createLogger, loadConfig, startMetrics, stopOnSignals, tlsFilesOf } from "@taj/common";
import { ExtractorEnv } from "./config.ts";
import { startExtractor } from "./server.ts";

const env = loadConfig(ExtractorEnv);
const logger = createLogger("extractor", env.LOG_LEVEL);
const metrics = await startMetrics("extractor", env.METRICS_PORT, env.METRICS_HOST, logger, { tls: tlsFilesOf(env), labels: { site: env.SITE } });
const { server } = await startExtractor(env, metrics, logger);

stopOnSignals(logger, async () => {
  await server.shutdown();
  await metrics.close();
});
