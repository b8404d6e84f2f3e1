import { createLogger, loadConfig, stopOnSignals } from "@taj/common";
import { CoordinatorConfig } from "./config.ts";
import { startCoordinator } from "./app.ts";

const config = loadConfig(CoordinatorConfig);
const logger = createLogger("coordinator", config.LOG_LEVEL).child({ site: config.SITE });
const coordinator = await startCoordinator(config, logger);
logger.info({ port: coordinator.port, metricsPort: coordinator.metricsPort }, "coordinator started");

stopOnSignals(logger, () => coordinator.close());
