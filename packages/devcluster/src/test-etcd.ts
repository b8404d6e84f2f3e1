import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { startEtcdCluster, type EtcdMember } from "./etcd-cluster.ts";

export interface TestEtcd {
  endpoint: string;
  client: Etcd3;
  member: EtcdMember;
  /** Kills etcd (by its pid) and removes its data directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A real single-member etcd in a temp dir on the given loopback ports, for one test file. */
export async function startTestEtcd(clientPort: number, peerPort: number): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), "taj-etcd-"));
  const cluster = await startEtcdCluster({ dir, members: [{ name: "t", site: "t", clientPort, peerPort }] });
  const member = cluster.member("t");
  const client = new Etcd3({ hosts: member.endpoint });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    client.close();
    await cluster.stop(0);
    rmSync(dir, { recursive: true, force: true });
  };
  return { endpoint: member.endpoint, client, member, stop, [Symbol.asyncDispose]: stop };
}
