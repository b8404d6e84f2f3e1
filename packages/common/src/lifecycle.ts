import type { Logger } from "./logger.ts";

/**
 * Runs `close` once on SIGTERM or SIGINT, then exits: 0 after a clean stop, 1 otherwise.
 * Kubernetes sends SIGTERM before killing a pod, so this is where a service drains.
 */
export function stopOnSignals(logger: Logger, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "unclean stop");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
