import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { repoRoot } from "./paths.ts";

export interface ServerBinaries {
  natsServer: string;
  etcd: string;
}

// Debian puts nats-server in /usr/sbin, which is not on a normal user's PATH.
const EXTRA_DIRS = ["/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"];

export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Older nats-server releases (Debian 12's 2.9.10) let stream replicas diverge when a cut heals. */
export const NATS_SERVER_MIN: readonly [number, number] = [2, 10];

/** "nats-server: v2.10.27" -> [2, 10, 27]; undefined when the output is not a version. */
export function parseNatsVersion(output: string): number[] | undefined {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(output);
  return m ? m.slice(1).map(Number) : undefined;
}

export function isRecentNats(version: readonly number[] | undefined): boolean {
  if (!version) return false;
  const [major = 0, minor = 0] = version;
  return major > NATS_SERVER_MIN[0] || (major === NATS_SERVER_MIN[0] && minor >= NATS_SERVER_MIN[1]);
}

function natsVersion(bin: string): number[] | undefined {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  return parseNatsVersion(`${r.stdout ?? ""}${r.stderr ?? ""}`);
}

function locate(): Partial<ServerBinaries> {
  const nats = findBinary("nats-server");
  const natsServer = nats && isRecentNats(natsVersion(nats)) ? nats : undefined;
  const etcd = findBinary("etcd");
  return { ...(natsServer ? { natsServer } : {}), ...(etcd ? { etcd } : {}) };
}

const MIN = NATS_SERVER_MIN.join(".");

/**
 * Finds nats-server (>= 2.10) and etcd, installing Debian's packages through
 * scripts/install-deps.sh when one is missing or too old (that needs root, or password-less
 * sudo; the script says so otherwise).
 */
export function ensureServerBinaries(): ServerBinaries {
  let found = locate();
  if (!found.natsServer || !found.etcd) {
    const script = resolve(repoRoot, "scripts/install-deps.sh");
    const result = spawnSync("bash", [script, "--servers-only"], { stdio: "inherit", cwd: repoRoot });
    if (result.status !== 0) {
      throw new Error(
        `nats-server >= ${MIN} and etcd are required; ${script} failed (exit ${result.status}). Run it as root.`,
      );
    }
    found = locate();
  }
  if (!found.natsServer || !found.etcd) {
    throw new Error(`nats-server >= ${MIN} or etcd still not found after running scripts/install-deps.sh`);
  }
  return { natsServer: found.natsServer, etcd: found.etcd };
}
