/**
 * Drill 2: under the same load as drill 1, kill -9 one process at a time (a shard replica, the
 * coordinator, an extractor, a NATS server, an etcd member: all of site a), restart it, and check
 * searches kept being served and both sites hold exactly the acknowledged writes. Prints a table;
 * exits 1 on a broken promise. `--ci`: shorter pauses.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { drillArgs, drillCredentials, log, logProgress, runId, saveLoad, withSitesCluster } from "./lib/drill.ts";
import { longestSearchGap, longestWriteGap, startLoad } from "./lib/load.ts";
import { verifySites } from "./lib/verify.ts";
import { etcdLeader, streamLeader } from "./lib/leaders.ts";
import type { SitesCluster } from "@taj/devcluster";
import { ms, printReport, standardRows, type Row } from "./lib/report.ts";

const SEARCH_GAP_LIMIT_MS = 5_000;
// One at a time. The NATS server and the etcd member killed are the current leaders (of the
// template stream, of etcd), the harder case; the last step takes etcd's quorum away (2 of 3
// members) to show that only re-assignment depends on it.
type Victims = string[] | ((cluster: SitesCluster) => Promise<string[]>);
const VICTIMS: Victims[] = [
  ["shard-a1"],
  ["coordinator-a"],
  ["extractor-1"],
  async (c) => [`nats-${await streamLeader(c.addresses.natsUrls)}`],
  async (c) => [`etcd-${await etcdLeader(c.etcd.members)}`],
  async (c) => {
    const leader = await etcdLeader(c.etcd.members);
    return c.etcd.members.filter((m) => m.member !== leader).map((m) => m.name);
  },
];
const args = drillArgs();
const warmMs = args.seconds(10, 5);
const downMs = args.seconds(10, 5);
const settleMs = args.seconds(10, 5);

const code = await withSitesCluster(args, "kill", async (cluster, probes) => {
  const { a, b } = cluster.addresses.gateways as Record<string, string>;
  if (!a || !b) throw new Error("expected gateways at sites a and b");
  const load = startLoad({
    credentials: await drillCredentials(cluster),
    gateways: [a, b],
    probes,
    runId: runId(),
    durationMs: warmMs + VICTIMS.length * (downMs + settleMs + 90_000),
    maxOps: args.ci ? 5_000 : 30_000,
    searchLanes: [
      { name: "client", gateways: [a, b] },
      { name: "site-a", gateways: [a] },
      { name: "site-b", gateways: [b] },
    ],
  });
  await sleep(warmMs);
  const windows: Array<{ victim: string; killedAt: number; restartedAt: number; readyAt: number; end: number }> = [];
  for (const spec of VICTIMS) {
    const group = typeof spec === "function" ? await spec(cluster) : spec;
    const victim = group.join("+");
    const procs = group.map((name) => {
      const proc = cluster.processes[name];
      if (!proc) throw new Error(`no process ${name}`);
      return proc;
    });
    const killedAt = load.mark(`kill ${victim}`);
    for (const proc of procs) if (!proc.kill("SIGKILL")) throw new Error(`${proc.name} was not running`);
    log(`kill -9 ${victim}`);
    await sleep(downMs);
    const restartedAt = load.mark(`restart ${victim}`);
    // etcd members wait for each other's quorum to report healthy: restart together.
    await Promise.all(procs.map((p) => p.restart()));
    for (const name of group) if (name.startsWith("shard-")) await cluster.waitForMember(name.slice("shard-".length, "shard-".length + 1), name.slice("shard-".length));
    const readyAt = Date.now();
    log(`${victim} back in ${readyAt - restartedAt} ms`);
    await sleep(settleMs);
    windows.push({ victim, killedAt, restartedAt, readyAt, end: Date.now() });
  }
  load.stop();
  const result = await load.done;
  saveLoad(cluster.dir, result);
  const lastReady = Math.max(...windows.map((w) => w.readyAt));
  log(`load done: ${result.enrolled.length} enrollments, ${result.deleted.length} deletions, ${result.searches.length} searches; verifying`);
  const verify = await verifySites(result, {
    sites: ["a", "b"], partitionCount: cluster.partitionCount, holders: cluster.shardsHolding, since: lastReady, timeoutMs: 90_000, onCheck: logProgress,
  });

  const rows: Row[] = [...standardRows(result, verify, { lanes: ["client", "site-a", "site-b"], gapPromised: ["client", "site-b"], gapLimitMs: SEARCH_GAP_LIMIT_MS })];
  for (const w of windows) {
    const span = { from: w.killedAt, to: w.end };
    const gap = longestSearchGap(result, { lane: "client", ...span });
    rows.push(
      { measure: `${w.victim}: longest search gap, client`, value: ms(gap), promise: `<= ${SEARCH_GAP_LIMIT_MS} ms`, ok: gap <= SEARCH_GAP_LIMIT_MS },
      { measure: `${w.victim}: longest search gap, site a`, value: ms(longestSearchGap(result, { lane: "site-a", ...span })) },
      { measure: `${w.victim}: longest write gap`, value: ms(longestWriteGap(result, span)) },
      { measure: `${w.victim}: restart to ready`, value: ms(w.readyAt - w.restartedAt) },
    );
  }
  return printReport(`drill 2: kill -9 one process at a time${args.ci ? " (ci)" : ""}`, rows);
});
process.exit(code);
