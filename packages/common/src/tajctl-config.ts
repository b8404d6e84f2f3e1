import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";

/**
 * Where a cluster tells `tajctl` how to reach it: endpoints and the operator's (admin) certificate
 * paths. The local cluster writes one (`<cluster dir>/tajctl.json`, by default
 * `.run/cluster/tajctl.json`); tajctl reads `TAJCTL_CONFIG` or that default path, and its flags
 * and env override what the file says. A deployment may ship one beside the admin certificate.
 */
export const TAJCTL_CONFIG_FILE = "tajctl.json";
/** The default place tajctl looks, relative to the working directory (npm scripts run at the repository root). */
export const TAJCTL_CONFIG_DEFAULT = join(".run", "cluster", TAJCTL_CONFIG_FILE);

export const TajctlConfig = z.object({
  etcd: z.array(z.string()).min(1),
  nats: z.array(z.string()).default([]),
  coordinators: z.array(z.string()).default([]),
  /** The public API (host:port), for `audit query` and `feedback-summary`. */
  gateway: z.string().optional(),
  /** Operator (OU=admin) pair and the cluster's CA: absolute paths. */
  tls: z.object({ caFile: z.string(), certFile: z.string(), keyFile: z.string() }),
});
export type TajctlConfig = z.infer<typeof TajctlConfig>;

export function writeTajctlConfig(path: string, config: TajctlConfig): void {
  const absolute: TajctlConfig = {
    ...config,
    tls: { caFile: resolve(config.tls.caFile), certFile: resolve(config.tls.certFile), keyFile: resolve(config.tls.keyFile) },
  };
  writeFileSync(path, `${JSON.stringify(absolute, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The file named by `explicit` (TAJCTL_CONFIG; it must exist), else the default path if present,
 * else undefined. A file that exists but does not parse is an error, not silently ignored.
 */
export function readTajctlConfig(explicit: string | undefined, cwd = process.cwd()): { path: string; config: TajctlConfig } | undefined {
  const path = resolve(cwd, explicit ?? TAJCTL_CONFIG_DEFAULT);
  if (!existsSync(path)) {
    if (explicit !== undefined) throw new Error(`the endpoints file ${path} (--config / TAJCTL_CONFIG) does not exist`);
    return undefined;
  }
  const parsed = TajctlConfig.safeParse(JSON.parse(readFileSync(path, "utf8")));
  if (!parsed.success) throw new Error(`${path}: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return { path, config: parsed.data };
}
