import { createLogger, loadConfig } from "@taj/common";
import { CoordinatorConfig } from "./config.ts";
import { startCoordinator } from "./app.ts";

const config = loadConfig(CoordinatorConfig);
const logger = createLogger("coordinator", config.LOG_LEVEL).child({ site: config.SITE });
const coordinator = await startCoordinator(config, logger);
logger.info({ port: coordinator.port, metricsPort: coordinator.metricsPort }, "coordinator started");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    coordinator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean stop");
        process.exit(1);
      },
    );
  });
}
