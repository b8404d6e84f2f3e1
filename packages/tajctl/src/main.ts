import { buildProgram } from "./cli.ts";
import { PlanError } from "./plan.ts";
import { LockBusyError } from "./lock.ts";
import { AppError, isClientRefusal } from "@taj/common";

/** Exit codes: 0 done, 1 failed, 2 refused (bad request, plan impossible, lock busy), 3 status found problems, 4 audit verify found a broken chain. */
buildProgram()
  .parseAsync(process.argv)
  .then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      const refused = err instanceof PlanError || err instanceof LockBusyError || (err instanceof AppError && isClientRefusal(err.code));
      process.stderr.write(`tajctl: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(refused ? 2 : 1);
    },
  );
