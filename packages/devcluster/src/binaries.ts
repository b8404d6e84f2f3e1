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

function locate(): Partial<ServerBinaries> {
  const natsServer = findBinary("nats-server");
  const etcd = findBinary("etcd");
  return { ...(natsServer ? { natsServer } : {}), ...(etcd ? { etcd } : {}) };
}

/**
 * Finds nats-server and etcd, installing Debian's packages through scripts/install-deps.sh when
 * one is missing (that needs root, or password-less sudo; the script says so otherwise).
 */
export function ensureServerBinaries(): ServerBinaries {
  let found = locate();
  if (!found.natsServer || !found.etcd) {
    const script = resolve(repoRoot, "scripts/install-deps.sh");
    const result = spawnSync("bash", [script, "--servers-only"], { stdio: "inherit", cwd: repoRoot });
    if (result.status !== 0) {
      throw new Error(
        `nats-server and etcd are required; ${script} failed (exit ${result.status}). ` +
          "Install them as root: apt-get update && apt-get install -y nats-server etcd-server etcd-client",
      );
    }
    found = locate();
  }
  if (!found.natsServer || !found.etcd) {
    throw new Error("nats-server or etcd still not found after installing the Debian packages");
  }
  return { natsServer: found.natsServer, etcd: found.etcd };
}
