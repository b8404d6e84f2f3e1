import { join } from "node:path";
import { existsSync } from "node:fs";
import { ManagedProcess, processHandle, type ProcessHandle } from "./process.ts";
import { checkHealth } from "./health.ts";
import { waitFor } from "./wait.ts";
import { repoRoot } from "./paths.ts";
import { channelCredentials } from "@taj/common";
import { tlsEnvOf, type Pki } from "./pki.ts";

export const SERVICE_KINDS = ["extractor", "shard", "coordinator", "gateway"] as const;
export type ServiceKind = (typeof SERVICE_KINDS)[number];

export interface StartServiceOptions {
  /** Environment of the service (GRPC_PORT is required: readiness is checked on it). */
  env: Record<string, string>;
  logFile: string;
  /** Issues the service's certificate (OU = its kind, CN = its name) and checks its health as admin. */
  pki: Pki;
  /** Defaults to the kind, e.g. "shard-a1" when several run. */
  name?: string;
  /** How long to wait for grpc.health.v1 SERVING; default 90 s (cold tsx start on 2 busy cores). */
  timeoutMs?: number;
  /** Network namespace to run in (see ProcessSpec.netns); GRPC_HOST must then be an address there. */
  netns?: string;
}

export interface ServiceHandle extends ProcessHandle {
  readonly kind: ServiceKind;
  /** host:port of its gRPC server. */
  readonly address: string;
  readonly env: Readonly<Record<string, string>>;
  waitServing(timeoutMs?: number): Promise<void>;
}

// Variables a parent test runner sets that must not leak into a service.
const DROPPED_ENV = ["NODE_TEST_CONTEXT", "NODE_CHANNEL_FD"];

/** Spawns `node --import tsx services/<kind>/src/main.ts` from the repo root and waits until it serves. */
export async function startService(kind: ServiceKind, options: StartServiceOptions): Promise<ServiceHandle> {
  const handle = createService(kind, options);
  handle.process.start();
  await handle.waitServing();
  return handle;
}

/** Like startService, without starting: for callers that start several and wait for all. */
export function createService(kind: ServiceKind, options: StartServiceOptions): ServiceHandle {
  const entry = join(repoRoot, "services", kind, "src", "main.ts");
  if (!existsSync(entry)) throw new Error(`${kind}: ${entry} does not exist`);
  const grpcPort = options.env.GRPC_PORT;
  if (!grpcPort || grpcPort === "0") throw new Error(`${kind}: env GRPC_PORT must be a fixed port`);
  const address = `${options.env.GRPC_HOST ?? "127.0.0.1"}:${grpcPort}`;
  const name = options.name ?? kind;
  const tls = options.pki.issue(kind, name, [options.env.GRPC_HOST ?? "127.0.0.1"]);
  const env: NodeJS.ProcessEnv = { ...process.env, ...tlsEnvOf(tls), ...options.env, TAJ_DEVCLUSTER_SERVICE: name };
  for (const key of DROPPED_ENV) delete env[key];
  const proc = new ManagedProcess({
    name,
    command: process.execPath,
    args: ["--import", "tsx", `services/${kind}/src/main.ts`],
    cwd: repoRoot,
    env,
    logFile: options.logFile,
    ...(options.netns ? { netns: options.netns } : {}),
  });
  const defaultTimeout = options.timeoutMs ?? 90_000;
  const admin = channelCredentials(options.pki.admin);
  const waitServing = async (timeoutMs = defaultTimeout) => {
    await waitFor(
      `${name} (${address}) grpc.health.v1 SERVING`,
      async () => ((await checkHealth(address, admin)) === "SERVING" ? true : undefined),
      { timeoutMs, intervalMs: 250, abortIf: () => proc.deathNote() },
    ).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      // A death note already carries the log tail; a plain timeout needs it too.
      throw new Error(proc.running ? `${message}\nlog ${options.logFile}:\n${proc.logTail()}` : message);
    });
  };
  // Services drain on SIGTERM; ManagedProcess's default grace (5 s) covers a shard's final snapshot.
  return Object.assign(processHandle(proc, () => waitServing(), { killSignal: "SIGTERM", graceMs: 5_000 }), {
    kind,
    address,
    env: options.env,
    waitServing,
  });
}
