import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { etcdCredentials } from "@taj/common";
import { startEtcdCluster, type EtcdMember } from "./etcd-cluster.ts";
import { sharedTestPki, type Pki } from "./pki.ts";

export interface TestEtcd {
  endpoint: string;
  /** A client with the operator's (admin) certificate. */
  client: Etcd3;
  member: EtcdMember;
  /** The PKI whose CA etcd trusts (the test process's shared one unless given). */
  pki: Pki;
  /** Kills etcd (by its pid) and removes its data directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A real single-member etcd (mutual TLS) in a temp dir on the given loopback ports, for one test file. */
export async function startTestEtcd(clientPort: number, peerPort: number, pki: Pki = sharedTestPki()): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "taj-etcd-"));
  const cluster = await startEtcdCluster({ dir, pki, members: [{ name: "t", site: "t", clientPort, peerPort }] });
  const member = cluster.member("t");
  const client = new Etcd3({ hosts: member.endpoint, credentials: etcdCredentials(pki.admin) });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    client.close();
    await cluster.stop(0);
    rmSync(dir, { recursive: true, force: true });
  };
  return { endpoint: member.endpoint, client, member, pki, stop, [Symbol.asyncDispose]: stop };
}
