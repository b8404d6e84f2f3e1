import { parseArgs } from "node:util";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { netnsSupport, startSitesCluster, type SitesCluster } from "@taj/devcluster";
import { prepareProbes, type Probe } from "./probes.ts";
import type { Verification } from "./verify.ts";
import type { LoadResult } from "./load.ts";

export interface DrillArgs {
  ci: boolean;
  keep: boolean;
  dir: string | undefined;
  /** Scales every phase duration (CI: short phases). */
  seconds: (full: number, ci: number) => number;
}

export function drillArgs(): DrillArgs {
  const { values } = parseArgs({
    options: {
      ci: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      dir: { type: "string" },
    },
  });
  const ci = values.ci ?? false;
  return { ci, keep: values.keep ?? false, dir: values.dir, seconds: (full, short) => 1_000 * (ci ? short : full) };
}

export const log = (message: string) => process.stderr.write(`[drill ${new Date().toISOString().slice(11, 23)}] ${message}\n`);

/**
 * The two-site cluster of the drills, in network namespaces, with the probes prepared. The
 * cluster dir is removed afterwards unless --keep (its logs help when a drill fails).
 */
export async function withSitesCluster<T>(
  args: DrillArgs, name: string, body: (cluster: SitesCluster, probes: Probe[]) => Promise<T>,
): Promise<T> {
  const support = netnsSupport();
  if (!support.ok) throw new Error(`${name}: ${support.reason}`);
  const dir = args.dir ?? mkdtempSync(join(tmpdir(), `taj-drill-${name}-`));
  log(`starting two sites + witness in network namespaces (dir ${dir})`);
  const started = Date.now();
  const cluster = await startSitesCluster({ dir, basePort: 19000, logLevel: "warn", extractors: 2, shardsPerSite: 2 });
  let failed = true;
  try {
    log(`cluster up in ${Date.now() - started} ms: ${JSON.stringify(cluster.addresses.gateways)}; namespaces ${Object.values(cluster.topology.namespaces).join(" ")}`);
    const probes = await prepareProbes(cluster.addresses.gateway, cluster.credentials("client"));
    if (probes.length < 4) throw new Error(`only ${probes.length} usable probes`);
    log(`${probes.length} probes ready`);
    const result = await body(cluster, probes);
    // A drill that broke a promise returns non-zero: keep its logs too.
    failed = typeof result === "number" && result !== 0;
    return result;
  } finally {
    await cluster.stop();
    if (args.keep || failed) log(`cluster files kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

export const runId = () => Date.now().toString(36);

/** Logs a waiting verification every 10th check: which site misses what. */
export function logProgress(v: Verification, check: number): void {
  if (check % 10 !== 1) return;
  log(`waiting for sites to converge: ${v.sites.map((s) => `${s.site} holds ${s.held} (missing ${s.missing}, deleted found ${s.deletedFound}${s.problems.length ? `, ${s.problems[0]}` : ""})`).join("; ")}`);
}

/** Keeps the raw load record beside the cluster's logs (kept with --keep or on failure). */
export function saveLoad(dir: string, result: LoadResult): void {
  writeFileSync(join(dir, "load.json"), JSON.stringify(result, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));
}
