import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { ManagedProcess, processHandle, type ProcessHandle } from "./process.ts";
import { getJsonTls, waitFor } from "./wait.ts";
import { findBinary } from "./binaries.ts";
import type { TlsFiles } from "@taj/common";
import type { Pki } from "./pki.ts";

export interface EtcdMemberSpec {
  name: string;
  site: string;
  clientPort: number;
  peerPort: number;
  /** Address to listen on and advertise; default 127.0.0.1. */
  host?: string;
  /** Network namespace to run in (see ProcessSpec.netns). */
  netns?: string;
}

export interface EtcdClusterOptions {
  /** Each member keeps its data in <dir>/etcd-<name> and logs to <dir>/etcd-<name>.log. */
  dir: string;
  members: EtcdMemberSpec[];
  /** Issues each member's certificate (kind etcd): clients and peers must present one of this CA. */
  pki: Pki;
  binary?: string;
  timeoutMs?: number;
}

export interface EtcdMember extends ProcessHandle {
  /** Member name as in --name ("a", "b", "w"); the process is named "etcd-<member>". */
  readonly member: string;
  readonly site: string;
  readonly endpoint: string;
  /** The member's own certificate files (used for client and peer TLS; re-read on new handshakes). */
  readonly tls: TlsFiles;
  waitHealthy(timeoutMs?: number): Promise<void>;
}

export interface EtcdCluster {
  /** Client URLs, in member order. */
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  member(name: string): EtcdMember;
  stop(graceMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const url = (port: number, host = "127.0.0.1") => `https://${host}:${port}`;

async function memberHealthy(endpoint: string, admin: TlsFiles): Promise<true | undefined> {
  // etcd reports healthy only when the member sees a leader, i.e. the cluster has quorum.
  const body = await getJsonTls(`${endpoint}/health`, admin);
  return typeof body === "object" && body !== null && (body as { health?: unknown }).health === "true" ? true : undefined;
}

/** Real etcd processes forming one cluster on loopback. */
export async function startEtcdCluster(options: EtcdClusterOptions): Promise<EtcdCluster> {
  const binary = options.binary ?? findBinary("etcd") ?? "etcd";
  const timeoutMs = options.timeoutMs ?? 30_000;
  const initialCluster = options.members.map((m) => `${m.name}=${url(m.peerPort, m.host)}`).join(",");
  mkdirSync(options.dir, { recursive: true });

  const members: EtcdMember[] = options.members.map((spec) => {
    const dataDir = join(options.dir, `etcd-${spec.name}`);
    const endpoint = url(spec.clientPort, spec.host);
    const peerUrl = url(spec.peerPort, spec.host);
    const tls = options.pki.issue("etcd", `etcd-${spec.name}`, [spec.host ?? "127.0.0.1"]);
    const proc = new ManagedProcess({
      name: `etcd-${spec.name}`,
      command: binary,
      args: [
        "--name", spec.name,
        "--data-dir", dataDir,
        "--listen-client-urls", endpoint,
        "--advertise-client-urls", endpoint,
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", initialCluster,
        // A distinct token per cluster dir keeps two local clusters from ever joining each other.
        "--initial-cluster-token", `taj-${basename(options.dir)}-${options.members[0]?.peerPort ?? 0}`,
        "--initial-cluster-state", "new",
        // Mutual TLS for clients and peers: no plaintext port, no client without a certificate of the CA.
        "--client-cert-auth", "--trusted-ca-file", tls.caFile, "--cert-file", tls.certFile, "--key-file", tls.keyFile,
        "--peer-client-cert-auth", "--peer-trusted-ca-file", tls.caFile, "--peer-cert-file", tls.certFile, "--peer-key-file", tls.keyFile,
        "--logger", "zap",
        "--log-outputs", "stderr",
      ],
      cwd: options.dir,
      env: { ...process.env },
      logFile: join(options.dir, `etcd-${spec.name}.log`),
      ...(spec.netns ? { netns: spec.netns } : {}),
    });
    const waitHealthy = (ms = timeoutMs) =>
      waitFor(`etcd member ${spec.name} (${endpoint})`, () => memberHealthy(endpoint, options.pki.admin), {
        timeoutMs: ms,
        abortIf: () => proc.deathNote(),
      }).then(() => undefined);
    return Object.assign(processHandle(proc, () => waitHealthy(), { killSignal: "SIGKILL", graceMs: 3_000 }), {
      member: spec.name,
      site: spec.site,
      endpoint,
      tls,
      waitHealthy,
    });
  });

  const stop = async (graceMs = 3_000) => {
    await Promise.all(members.map((m) => m.process.stop(graceMs)));
  };
  try {
    for (const m of members) m.process.start();
    await Promise.all(members.map((m) => m.waitHealthy()));
  } catch (err) {
    await stop(1_000);
    throw err;
  }
  return {
    endpoints: members.map((m) => m.endpoint),
    members,
    member(name) {
      const m = members.find((x) => x.member === name || x.name === name);
      if (!m) throw new Error(`no etcd member named ${name}`);
      return m;
    },
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };
}
