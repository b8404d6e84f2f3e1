import { parseArgs } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENGINE_NAMES, type EngineName } from "./engine-run.ts";

export interface BenchOptions {
  scales: number[];
  probes: number;
  seed: number;
  engines: EngineName[];
  cluster: boolean;
  images: boolean;
  restart: boolean;
  /** Build the face HNSW graph in the cluster: "auto" up to CLUSTER_GRAPH_LIMIT templates. */
  graph: "auto" | "off";
  basePort: number;
  freshness: number;
  concurrency: number;
  throughputSeconds: number;
  out: string;
  workDir: string;
  /** Per engine child process. */
  engineTimeoutMinutes: number;
  /** Per named engine, where it differs from engineTimeoutMinutes. */
  engineTimeouts: Partial<Record<EngineName, number>>;
}

export const DEFAULT_SCALES = [100_000, 1_000_000];
export const HUGE_SCALES = [9_000_000, 17_000_000];

export const USAGE = `npm run bench -- [options]
  --scales 100k,1m       gallery sizes (default 100k,1m; k and m suffixes)
  --huge                 add 9m and 17m (five-year growth; hours, and RAM for the f32 truth is streamed)
  --probes 500           searches per measurement
  --seed 42              data set seed (same seed = same templates)
  --engines a,b          subset of ${ENGINE_NAMES.join(",")}
  --no-cluster           skip the whole-cluster phases
  --no-images            skip the real-image phases
  --no-restart           skip the shard restart / rebuild measurement (largest scale only)
  --no-graph             run the cluster exhaustive only at every scale (default: the face graph up to 2 M)
  --base-port 19800      local cluster ports [base, base+200)
  --freshness 50         freshness samples per scale
  --concurrency 8        searches in flight in the throughput run
  --throughput-seconds 20
  --out bench/results    where the JSON, table and PNGs go
  --work-dir <tmp>/taj-bench
  --engine-timeout 60    minutes per engine per scale; "90,hnswlib-node=20" gives one engine its own limit
                         (an engine stopped for time leaves its insertion rate so far in the result)`;

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size "${s}" (examples: 20000, 20k, 1m)`);
  const mult = { "": 1, k: 1_000, m: 1_000_000 }[m[2]!.toLowerCase() as "" | "k" | "m"];
  return Math.round(Number(m[1]) * mult);
}

export function formatSize(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}m`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scales: { type: "string" },
      huge: { type: "boolean", default: false },
      probes: { type: "string", default: "500" },
      seed: { type: "string", default: "42" },
      engines: { type: "string" },
      "no-cluster": { type: "boolean", default: false },
      "no-images": { type: "boolean", default: false },
      "no-restart": { type: "boolean", default: false },
      "no-graph": { type: "boolean", default: false },
      "base-port": { type: "string", default: "19800" },
      freshness: { type: "string", default: "50" },
      concurrency: { type: "string", default: "8" },
      "throughput-seconds": { type: "string", default: "20" },
      out: { type: "string", default: fileURLToPath(new URL("../results", import.meta.url)) },
      "work-dir": { type: "string", default: join(tmpdir(), "taj-bench") },
      "engine-timeout": { type: "string", default: "60" },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) throw new UsageError(USAGE);
  const scales = values.scales ? values.scales.split(",").map(parseSize) : [...DEFAULT_SCALES];
  if (values.huge) scales.push(...HUGE_SCALES.filter((s) => !scales.includes(s)));
  const engines = values.engines ? values.engines.split(",").map((e) => e.trim()) : [...ENGINE_NAMES];
  for (const e of engines) if (!(ENGINE_NAMES as readonly string[]).includes(e)) throw new UsageError(`unknown engine "${e}"\n${USAGE}`);
  if (!engines.includes("exact-f32")) engines.unshift("exact-f32"); // the ground truth everything is scored against
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}`);
    return n;
  };
  return {
    scales: scales.sort((a, b) => a - b),
    probes: int("probes", values.probes, 10),
    seed: int("seed", values.seed, 0),
    // In ENGINE_NAMES order whatever the command line's: the reference must run before the tuned.
    engines: ENGINE_NAMES.filter((e) => engines.includes(e)),
    cluster: !values["no-cluster"],
    images: !values["no-images"],
    restart: !values["no-restart"],
    graph: values["no-graph"] ? "off" : "auto",
    basePort: int("base-port", values["base-port"], 1024),
    freshness: int("freshness", values.freshness, 1),
    concurrency: int("concurrency", values.concurrency, 1),
    throughputSeconds: int("throughput-seconds", values["throughput-seconds"], 1),
    out: values.out,
    workDir: values["work-dir"],
    ...engineTimeouts(values["engine-timeout"], (v) => int("engine-timeout", v, 1)),
  };
}

/** "60" or "90,hnswlib-node=20,lancedb=120": a default and limits for named engines. */
function engineTimeouts(spec: string, minutes: (v: string) => number): Pick<BenchOptions, "engineTimeoutMinutes" | "engineTimeouts"> {
  let engineTimeoutMinutes = 60;
  const perEngine: Partial<Record<EngineName, number>> = {};
  for (const part of spec.split(",").map((p) => p.trim())) {
    const [name, value] = part.includes("=") ? part.split("=", 2) as [string, string] : [undefined, part];
    if (name === undefined) engineTimeoutMinutes = minutes(value);
    else if ((ENGINE_NAMES as readonly string[]).includes(name)) perEngine[name as EngineName] = minutes(value);
    else throw new UsageError(`--engine-timeout: unknown engine "${name}"\n${USAGE}`);
  }
  return { engineTimeoutMinutes, engineTimeouts: perEngine };
}

export class UsageError extends Error {}
