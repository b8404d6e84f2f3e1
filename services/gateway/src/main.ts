import { createLogger, loadConfig, stopOnSignals } from "@taj/common";
import { GatewayConfig } from "./config.ts";
import { startGateway } from "./app.ts";

const config = loadConfig(GatewayConfig);
const logger = createLogger("gateway", config.LOG_LEVEL).child({ site: config.SITE });
const gateway = await startGateway(config, logger);
logger.info({ port: gateway.port, metricsPort: gateway.metricsPort }, "gateway started");

stopOnSignals(logger, () => gateway.close());
