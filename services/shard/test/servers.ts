import { spawn, type ChildProcess } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect } from "nats";
import { Etcd3 } from "etcd3";
import { bootstrapStreams, channelCredentials, clusterStreams, etcdCredentials, natsTls } from "@taj/common";
import { sharedTestPki, tlsEnvOf } from "@taj/devcluster";
import { tempDir } from "./helpers.ts";

/** A real server process started by a test, killed by pid and its temp dir removed in dispose. */
export interface TestServer {
  url: string;
  dir: string;
  proc: ChildProcess;
  /** Kills the process (SIGKILL), keeping its data dir. */
  kill(): Promise<void>;
  dispose(): void;
}

function started(cmd: string, args: string[], dir: string, url: string): TestServer {
  const proc = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  proc.on("exit", (code) => {
    if (code !== null && code !== 0) process.stderr.write(`${cmd} exited ${code}: ${stderr}\n`);
  });
  const kill = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
  return {
    url,
    dir,
    proc,
    kill,
    dispose() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, attempts = 200, everyMs = 100): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`gave up waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`);
}

/** The test process's PKI: servers here and the shard under test use its certificates. */
export const pki = sharedTestPki();
/** The operator's credentials for the test's own clients: gRPC, NATS, etcd. */
export const admin = {
  grpc: channelCredentials(pki.admin),
  nats: natsTls(pki.admin, "admin"),
  etcd: { credentials: etcdCredentials(pki.admin) },
};
/** TLS_* of a shard process under test. */
export const shardTlsEnv = (name: string) => tlsEnvOf(pki.issue("shard", name));

/** A real nats-server; its streams made by the cluster bootstrap (as devcluster and `tajctl init` do) unless `bootstrap` is false. */
export async function startNats(port: number, options: { bootstrap?: boolean } = {}): Promise<TestServer> {
  const dir = tempDir("shard-nats-");
  const tls = pki.issue("nats", "test-nats");
  const server = started("nats-server", ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port),
    "--tlsverify", "--tlscert", tls.certFile, "--tlskey", tls.keyFile, "--tlscacert", tls.caFile], dir, `nats://127.0.0.1:${port}`);
  await waitFor("nats-server", async () => {
    const nc = await connect({ servers: server.url, reconnect: false, ...natsTls(pki.admin, "admin") });
    try {
      if (options.bootstrap !== false) await bootstrapStreams(await nc.jetstreamManager(), clusterStreams({ replicas: 1 }));
    } finally {
      await nc.close();
    }
    return true;
  });
  return server;
}

/** Starts etcd; pass the dir of a killed one to restart it with its data. */
export async function startEtcd(clientPort: number, peerPort: number, dir = tempDir("shard-etcd-")): Promise<TestServer> {
  const client = `https://127.0.0.1:${clientPort}`;
  const peer = `https://127.0.0.1:${peerPort}`;
  const tls = pki.issue("etcd", "test-etcd");
  const server = started("etcd", [
    "--client-cert-auth", "--trusted-ca-file", tls.caFile, "--cert-file", tls.certFile, "--key-file", tls.keyFile,
    "--peer-client-cert-auth", "--peer-trusted-ca-file", tls.caFile, "--peer-cert-file", tls.certFile, "--peer-key-file", tls.keyFile,
    "--name", "t", "--data-dir", dir,
    "--listen-client-urls", client, "--advertise-client-urls", client,
    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
    "--initial-cluster", `t=${peer}`,
  ], dir, client);
  await waitFor("etcd", async () => {
    const etcd = new Etcd3({ hosts: client, dialTimeout: 500, credentials: etcdCredentials(pki.admin) });
    try {
      await etcd.get("/probe").string();
      return true;
    } finally {
      etcd.close();
    }
  });
  return server;
}

/** A shard process under test (src/main.ts) and the JSON log lines it has written so far. */
export interface RunningShard {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
}

const SHARD_MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/**
 * Starts a shard process on a real NATS and etcd; `kill` (SIGKILL, if still running) is handed to
 * `cleanup` so a failing test leaves no process behind. `env` adds to or overrides the defaults.
 */
export function startShardProcess(
  options: { shardId: string; site: string; grpcPort: number; dataDir: string; natsUrl: string; etcdUrl: string; tlsName: string; env?: Record<string, string> },
  cleanup: (() => void)[],
): RunningShard {
  const proc = spawn(process.execPath, ["--import", "tsx", SHARD_MAIN], {
    env: {
      ...process.env,
      SHARD_ID: options.shardId, SITE: options.site, GRPC_PORT: String(options.grpcPort), DATA_DIR: options.dataDir,
      ...shardTlsEnv(options.tlsName),
      NATS_URLS: options.natsUrl, ETCD_ENDPOINTS: options.etcdUrl, LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const logs: Record<string, unknown>[] = [];
  let rest = "";
  proc.stdout!.on("data", (b: Buffer) => {
    const lines = (rest + b.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const l of lines) if (l.trim()) logs.push(JSON.parse(l) as Record<string, unknown>);
  });
  cleanup.push(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
  });
  return { proc, logs };
}

/** Resolves with the exit code (null after a signal) once the process has ended. */
export const exited = (proc: ChildProcess) =>
  new Promise<number | null>((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve(proc.exitCode) : proc.once("exit", (code) => resolve(code))));
