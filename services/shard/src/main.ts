import { createLogger, loadConfig, stopOnSignals } from "@taj/common";
import { ShardConfig } from "./config.ts";
import { startReplica } from "./replica.ts";

const cfg = loadConfig(ShardConfig);
const logger = createLogger("shard", cfg.LOG_LEVEL).child({ site: cfg.SITE, shardId: cfg.SHARD_ID });

startReplica(cfg, logger).then(
  (replica) => stopOnSignals(logger, () => replica.stop()),
  (err: unknown) => {
    logger.fatal({ err }, "shard failed to start");
    process.exit(1);
  },
);
