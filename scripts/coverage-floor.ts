// Compares the test run's coverage (c8's coverage/coverage-summary.json, written by scripts/test.sh)
// with the committed floor in .ci/coverage-floor.json; exits 1 when lines or branches fall below it.
//   node --import tsx scripts/coverage-floor.ts           check (what CI does)
//   node --import tsx scripts/coverage-floor.ts --raise   lift the floor to this run, never lower it
// The floor sits MARGIN points under a measured run: coverage moves a little between runs (a
// process killed with SIGKILL writes no coverage, some retry paths depend on timing), and a floor
// that fails on that noise would be lowered by hand, which is what it must never be.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";

const MARGIN = 0.5;
const root = join(import.meta.dirname, "..");
const summaryFile = join(root, "coverage", "coverage-summary.json");
const floorFile = join(root, ".ci", "coverage-floor.json");

const Pct = z.object({ total: z.number(), covered: z.number(), pct: z.number() });
const Summary = z.object({ total: z.object({ lines: Pct, branches: Pct, functions: Pct }) });
const Floor = z.object({ lines: z.number(), branches: z.number() });
type Floor = z.infer<typeof Floor>;

const { values } = parseArgs({ options: { raise: { type: "boolean", default: false } } });
const { total } = Summary.parse(JSON.parse(readFileSync(summaryFile, "utf8")));
const floor = Floor.parse(JSON.parse(readFileSync(floorFile, "utf8")));

const show = (p: z.infer<typeof Pct>) => `${p.pct.toFixed(2)} % (${p.covered}/${p.total})`;
console.log(`coverage of packages/*/src and services/*/src (${summaryFile.slice(root.length + 1)}):`);
console.log(`  lines     ${show(total.lines)}   floor ${floor.lines.toFixed(1)} %`);
console.log(`  branches  ${show(total.branches)}   floor ${floor.branches.toFixed(1)} %`);
console.log(`  functions ${show(total.functions)}`);

if (values.raise) {
  const lift = (measured: number, current: number) => Math.max(current, Math.floor((measured - MARGIN) * 10) / 10);
  const next: Floor = { lines: lift(total.lines.pct, floor.lines), branches: lift(total.branches.pct, floor.branches) };
  writeFileSync(floorFile, JSON.stringify(next, null, 2) + "\n");
  console.log(`floor now lines ${next.lines} %, branches ${next.branches} % (${floorFile.slice(root.length + 1)}): commit it`);
} else {
  const below = (["lines", "branches"] as const).filter((k) => total[k].pct < floor[k]);
  if (below.length > 0) {
    console.error(`coverage fell below the floor (${below.join(", ")}): add tests for the code that lost them`);
    process.exit(1);
  }
  const room = (["lines", "branches"] as const).some((k) => total[k].pct - MARGIN >= floor[k] + 1);
  if (room) console.log("coverage is a point or more above the floor: raise it with `node --import tsx scripts/coverage-floor.ts --raise`");
}
