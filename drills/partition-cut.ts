/**
 * Drill 1: cut site A from site B and the witness (nftables drop in the router namespace) while
 * the load generator enrolls, deletes and searches; restore; check both sites hold exactly the
 * acknowledged writes. Prints a table; exits 1 on a broken promise. `--ci`: short phases.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { drillArgs, log, logProgress, runId, saveLoad, withSitesCluster } from "./lib/drill.ts";
import { longestSearchGap, longestWriteGap, startLoad } from "./lib/load.ts";
import { verifySites, waitApplied } from "./lib/verify.ts";
import { ms, printReport, standardRows, type Row } from "./lib/report.ts";

/**
 * Longest search gap promised, during the cut and over the whole run. Every answer waits for its
 * audit record to be stored by the audit stream's quorum ("no audit, no answer", issue 8), so a
 * search is only as available as an audit write: when the cut takes the audit stream's leader
 * away (site a held it), the majority elects a new one within nats-server's election timeout
 * (4-9 s, not configurable in 2.10), and when the cut heals site a's node returns with a higher
 * raft term and the groups re-elect again ("Detected another leader with higher term, will
 * stepdown"). Measured in CI mode on 2026-12-02: 0.3-0.6 s at site b during the cut when the
 * leader was elsewhere, 6.6-8.3 s when it was at site a, 4.9-10.6 s over whole runs
 * (docs/guarantees.md). Before the audit trail, searches did not touch NATS and kept 5 s.
 */
const SEARCH_GAP_LIMIT_MS = 15_000;
const args = drillArgs();
const warmMs = args.seconds(15, 6);
const cutMs = args.seconds(40, 20);
const afterMs = args.seconds(20, 10);

const code = await withSitesCluster(args, "cut", async (cluster, probes) => {
  const { a, b } = cluster.addresses.gateways as Record<string, string>;
  if (!a || !b) throw new Error("expected gateways at sites a and b");
  const load = startLoad({
    credentials: cluster.credentials("client"),
    gateways: [a, b],
    probes,
    runId: runId(),
    // The client writes through a then b; a second writer uses site b only, to time the majority side.
    writers: [
      { name: "client", gateways: [a, b] },
      { name: "siteb", gateways: [b] },
    ],
    durationMs: warmMs + cutMs + afterMs + 60_000,
    maxOps: args.ci ? 3_000 : 20_000,
    searchLanes: [
      { name: "client", gateways: [a, b] },
      { name: "site-a", gateways: [a] },
      { name: "site-b", gateways: [b] },
    ],
  });
  await sleep(warmMs);
  const cutAt = load.mark("cut");
  cluster.topology.cut("a");
  log(`site a cut from b and w for ${cutMs / 1000} s`);
  await sleep(cutMs);
  cluster.topology.restore();
  const restoredAt = load.mark("restore");
  log("links restored");
  // Catch-up: until every replica at site a applied what was acknowledged up to the restore.
  const acked = [...load.snapshot().enrolled, ...load.snapshot().deleted].map((w) => w.seq);
  const target = acked.reduce((x, y) => (y > x ? y : x), 0n);
  const siteA = Object.entries(cluster.addresses.shards).filter(([id]) => id.startsWith("a")).map(([, address]) => address);
  const caughtUp = waitApplied(siteA, cluster.credentials(), target, { timeoutMs: afterMs + 90_000 });
  await sleep(afterMs);
  load.stop();
  const result = await load.done;
  const catchUpMs = await caughtUp;
  saveLoad(cluster.dir, result);
  log(`load done: ${result.enrolled.length} enrollments, ${result.deleted.length} deletions, ${result.searches.length} searches; verifying`);
  const verify = await verifySites(result, {
    credentials: cluster.credentials(),
    sites: ["a", "b"], partitionCount: cluster.partitionCount, holders: cluster.shardsHolding, since: restoredAt, timeoutMs: 90_000, onCheck: logProgress,
  });

  const during = { from: cutAt, to: restoredAt };
  const firstAckAfterCut = [...result.enrolled, ...result.deleted].filter((w) => w.at > cutAt).map((w) => w.at).sort((x, y) => x - y)[0];
  // A write acknowledged by site A's gateway once the cut is in place would have bypassed the quorum.
  const ackedByCutSite = [...result.enrolled, ...result.deleted].filter((w) => w.gateway === a && w.at > cutAt + 1_000 && w.at < restoredAt).length;
  const gapDuring = (lane: string) => longestSearchGap(result, { lane, ...during });
  const rows: Row[] = [
    { measure: "cut (site a from b + witness)", value: ms(restoredAt - cutAt) },
    ...standardRows(result, verify, { lanes: ["client", "site-a", "site-b"], gapPromised: ["client", "site-b"], gapLimitMs: SEARCH_GAP_LIMIT_MS }),
    { measure: "during cut: longest search gap, client (a then b)", value: ms(gapDuring("client")), promise: `<= ${SEARCH_GAP_LIMIT_MS} ms`, ok: gapDuring("client") <= SEARCH_GAP_LIMIT_MS },
    { measure: "during cut: longest search gap, site b (majority)", value: ms(gapDuring("site-b")), promise: `<= ${SEARCH_GAP_LIMIT_MS} ms`, ok: gapDuring("site-b") <= SEARCH_GAP_LIMIT_MS },
    { measure: "during cut: longest search gap, site a (cut off, stale)", value: ms(gapDuring("site-a")) },
    { measure: "writes: cut to first acknowledged write", value: ms(firstAckAfterCut === undefined ? undefined : firstAckAfterCut - cutAt) },
    { measure: "during cut: longest write gap, client (a then b)", value: ms(longestWriteGap(result, { writer: "client", ...during })) },
    { measure: "during cut: longest write gap, site b only (majority)", value: ms(longestWriteGap(result, { writer: "siteb", ...during })) },
    { measure: "writes acknowledged by cut-off site a", value: String(ackedByCutSite), promise: "= 0 (quorum policy)", ok: ackedByCutSite === 0 },
    { measure: `restore to site a replicas applied seq ${target}`, value: ms(catchUpMs), promise: "catches up", ok: catchUpMs !== undefined },
  ];
  return printReport(`drill 1: partition cut${args.ci ? " (ci)" : ""}`, rows);
});
process.exit(code);
