import { createLogger, loadConfig } from "@taj/common";
import { GatewayConfig } from "./config.ts";
import { startGateway } from "./app.ts";

const config = loadConfig(GatewayConfig);
const logger = createLogger("gateway", config.LOG_LEVEL).child({ site: config.SITE });
const gateway = await startGateway(config, logger);
logger.info({ port: gateway.port, metricsPort: gateway.metricsPort }, "gateway started");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    gateway.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean stop");
        process.exit(1);
      },
    );
  });
}
