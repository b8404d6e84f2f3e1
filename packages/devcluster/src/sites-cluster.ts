import { startLocalCluster, type LocalCluster, type LocalClusterOptions } from "./local-cluster.ts";
import { createSitesTopology, reapStaleTopologies, type SitesTopology } from "./netns.ts";

export interface SitesCluster extends LocalCluster {
  readonly topology: SitesTopology;
}

/**
 * startLocalCluster with each site (and the witness) in its own network namespace: its etcd
 * member, NATS node, shards, coordinator, gateway and extractors run there (`ip netns exec`) and
 * listen on the namespace's address. `topology.cut("a")` / `topology.restore()` cut and heal the
 * links between site a and the rest. `stop()` ends the processes, then deletes the namespaces,
 * also when the start failed half-way.
 */
export async function startSitesCluster(options: Omit<LocalClusterOptions, "network">): Promise<SitesCluster> {
  const reaped = reapStaleTopologies();
  if (reaped.length > 0) process.stderr.write(`[devcluster] removed namespaces an earlier run left: ${reaped.join(", ")}\n`);
  const topology = createSitesTopology({ sites: options.sites ?? ["a", "b"] });
  const onExit = () => topology.teardown();
  process.once("exit", onExit);
  let cluster: LocalCluster;
  try {
    // A cut must be noticed quickly: NATS pings every second, gives up after two unanswered, and
    // closes a route whose writes block for 2 s (otherwise a route stuck behind the cut lingers
    // until after the restore and disrupts the cluster then).
    cluster = await startLocalCluster({ natsPingIntervalSec: 1, natsWriteDeadlineSec: 2, ...options, network: topology });
  } catch (err) {
    topology.restore();
    topology.teardown();
    process.off("exit", onExit);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      topology.restore();
      try {
        await cluster.stop();
      } finally {
        topology.teardown();
        process.off("exit", onExit);
      }
    })());
  return { ...cluster, topology, stop, [Symbol.asyncDispose]: stop };
}
