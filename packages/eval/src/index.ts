export { runEval, type EvalOptions, type EvalResult } from "./run.ts";
export { parseEvalArgs, USAGE } from "./args.ts";
export { formatTable } from "./table.ts";
export type { EvalReport, ImageRecord } from "./report.ts";
export * from "./metrics.ts";
export { renderSvg, type Chart, type Series } from "./chart.ts";
