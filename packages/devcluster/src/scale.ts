import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { Member, memberKey } from "@taj/common";
import type { LocalCluster } from "./local-cluster.ts";
import { MAX_SHARDS, assertPortsFree } from "./ports.ts";
import { createService, type ServiceHandle } from "./service.ts";
import { waitFor } from "./wait.ts";

/**
 * Extra shard processes on a running local cluster, as an SRE scaling a StatefulSet would add
 * pods: they start with no assignment, register in etcd, and wait for `tajctl scale` to give them
 * partitions. Kept per cluster here because the cluster object itself is fixed at start.
 */
const added = new WeakMap<LocalCluster, Map<string, ServiceHandle>>();

function extras(cluster: LocalCluster): Map<string, ServiceHandle> {
  let m = added.get(cluster);
  if (!m) added.set(cluster, (m = new Map<string, ServiceHandle>()));
  return m;
}

/** Port slot k of the layout's shard block (+100 + 2k): the first not used by a shard of the cluster. */
function freeSlot(cluster: LocalCluster): number {
  const used = new Set<number>();
  for (const p of Object.values(cluster.ports.shards)) used.add(p.grpc);
  for (const s of extras(cluster).values()) used.add(Number(s.env.GRPC_PORT));
  for (let k = 0; k < MAX_SHARDS; k++) {
    if (!used.has(cluster.ports.basePort + 100 + 2 * k)) return k;
  }
  throw new Error(`no free shard slot: at most ${MAX_SHARDS} shards per cluster`);
}

/**
 * Starts shard `shardId` at `site` with the same environment as the site's other shards, on the
 * next free shard ports of the cluster's layout, its own data dir and log; resolves once it serves
 * gRPC and is a live member in etcd (with no partitions unless already assigned some).
 */
export async function addShard(cluster: LocalCluster, site: string, shardId: string, timeoutMs = 120_000): Promise<ServiceHandle> {
  if (cluster.services[`shard-${shardId}`] || extras(cluster).has(shardId)) throw new Error(`shard ${shardId} already exists`);
  const model = Object.values(cluster.services).find((s) => s.kind === "shard" && s.env.SITE === site);
  if (!model) throw new Error(`no shard at site ${site} to copy the environment from`);
  // Slot taken and recorded before any await, so shards added concurrently get distinct ports.
  const k = freeSlot(cluster);
  const grpc = cluster.ports.basePort + 100 + 2 * k;
  const metrics = grpc + 1;
  const name = `shard-${shardId}`;
  const handle = createService("shard", {
    name,
    env: {
      ...model.env,
      SHARD_ID: shardId,
      GRPC_PORT: String(grpc),
      METRICS_PORT: String(metrics),
      ADVERTISE_ADDRESS: `${model.env.GRPC_HOST ?? "127.0.0.1"}:${grpc}`,
      DATA_DIR: join(cluster.dir, `${name}-data`),
    },
    logFile: join(cluster.dir, `${name}.log`),
    pki: cluster.pki,
    timeoutMs,
    // In a sites cluster the new shard joins its site's namespace, like the others there.
    ...(model.process.spec.netns ? { netns: model.process.spec.netns } : {}),
  });
  extras(cluster).set(shardId, handle);
  try {
    await assertPortsFree([{ port: grpc, label: `${name} grpc` }, { port: metrics, label: `${name} metrics` }]);
  } catch (err) {
    extras(cluster).delete(shardId);
    throw err;
  }
  handle.process.start();
  try {
    await handle.waitServing();
    await waitForMemberEntry(cluster, site, shardId, timeoutMs, handle);
  } catch (err) {
    await handle.stop();
    extras(cluster).delete(shardId);
    throw err;
  }
  return handle;
}

async function waitForMemberEntry(cluster: LocalCluster, site: string, shardId: string, timeoutMs: number, handle: ServiceHandle): Promise<void> {
  const client = new Etcd3(cluster.etcdOptions());
  try {
    await waitFor(
      `${shardId} registered in etcd`,
      async () => {
        const raw = await client.get(memberKey(site, shardId)).string();
        return raw !== null && Member.safeParse(JSON.parse(raw)).success ? true : undefined;
      },
      { timeoutMs, intervalMs: 250, abortIf: () => handle.process.deathNote() },
    );
  } finally {
    client.close();
  }
}

/** Stops a shard (SIGTERM: it leaves etcd, snapshots, drains), whether added here or started with the cluster. */
export async function removeShard(cluster: LocalCluster, shardId: string): Promise<void> {
  const extra = extras(cluster).get(shardId);
  if (extra) {
    await extra.stop();
    extras(cluster).delete(shardId);
    return;
  }
  await cluster.shard(shardId).stop();
}

/** Shards started by addShard and still running, by id. */
export function addedShards(cluster: LocalCluster): ReadonlyMap<string, ServiceHandle> {
  return extras(cluster);
}

/** Stops every shard addShard started (call before cluster.stop(), which only knows its own). */
export async function stopAddedShards(cluster: LocalCluster): Promise<void> {
  await Promise.all([...extras(cluster).values()].map((s) => s.stop()));
  extras(cluster).clear();
}
