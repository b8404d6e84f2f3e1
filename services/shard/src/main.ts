import { createLogger, loadConfig } from "@taj/common";
import { ShardConfig } from "./config.ts";
import { startReplica } from "./replica.ts";

const cfg = loadConfig(ShardConfig);
const logger = createLogger("shard", cfg.LOG_LEVEL).child({ site: cfg.SITE, shardId: cfg.SHARD_ID });

startReplica(cfg, logger).then(
  (replica) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, "stopping");
      replica.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, "unclean stop");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
  },
  (err: unknown) => {
    logger.fatal({ err }, "shard failed to start");
    process.exit(1);
  },
);
