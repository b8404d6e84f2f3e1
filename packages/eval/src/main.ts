import { parseEvalArgs, USAGE } from "./args.ts";
import { runEval, type EvalOptions } from "./run.ts";
import { formatTable } from "./table.ts";

let options: EvalOptions;
try {
  options = parseEvalArgs(process.argv.slice(2));
} catch (err) {
  console.error(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  process.exit(64);
}

try {
  const { report, files } = await runEval({ ...options, progress: (line) => console.error(line) });
  console.log(formatTable(report));
  console.log(`\nwritten: ${Object.values(files).join(", ")}`);
} catch (err) {
  console.error(`eval failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
