// A real Prometheus (Debian's package) scraping every process of a real two-site local cluster:
// every query of the per-site dashboards and of the alert rules (read from deploy/monitoring, not
// listed here) must return data, every rule must evaluate without error, every service must report
// its RPC durations, and stopping a shard must show in the "partition uncovered" query.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { MatchingService } from "@taj/proto";
import { createClient, type ServiceClient } from "@taj/common";
import { ManagedProcess, findBinary, startLocalCluster, waitFor, withCallMetadata, type LocalCluster } from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos, searchFace } from "@taj/samples";
import { RULES_FILE, alertRules, dashboardFiles, dashboardQueries } from "./monitoring.ts";

const BASE_PORT = 28400;
// Inside the cluster's own port span, in the gap its layout leaves free (+80 .. +99): no collision
// with another test's cluster, whatever its base.
const PROMETHEUS_PORT = BASE_PORT + 90;
const PROMETHEUS = `http://127.0.0.1:${PROMETHEUS_PORT}`;
const SERVICES = ["gateway", "coordinator", "extractor", "shard"];

const dir = mkdtempSync(join(tmpdir(), "taj-prometheus-"));
let cluster: LocalCluster;
let prometheus: ManagedProcess;
const gateways: ServiceClient<typeof MatchingService.method>[] = [];

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus' HTTP API; throws on any error (a bad query included). */
async function query(expr: string): Promise<Sample[]> {
  const res = await fetch(`${PROMETHEUS}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query: expr }) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] | [number, string] } };
  if (body.status !== "success" || !body.data) throw new Error(`${expr}: ${body.error ?? res.status}`);
  // A scalar (e.g. a bare number) is data too, but none of ours is one.
  if (body.data.resultType !== "vector") throw new Error(`${expr}: a ${body.data.resultType}, not an instant vector`);
  return body.data.result as Sample[];
}

function prometheusConfig(c: LocalCluster): string {
  const taj = Object.values(c.services).map((s) => ({
    targets: [`127.0.0.1:${s.env.METRICS_PORT}`],
    labels: { service: s.kind, site: s.env.SITE ?? "" },
  }));
  const etcd = c.etcd.members.map((m) => ({ targets: [new URL(m.endpoint).host], labels: { site: m.member } }));
  return stringify({
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: [RULES_FILE],
    scrape_configs: [
      // As deploy/monitoring/prometheus.yml: plain HTTP, the processes' own labels kept.
      { job_name: "taj", honor_labels: true, static_configs: taj },
      // The local cluster's etcd serves /metrics on its client port only: mutual TLS with the
      // operator's certificate (in deploy/ etcd has a plain-HTTP metrics listener instead).
      {
        job_name: "etcd",
        scheme: "https",
        tls_config: { ca_file: c.pki.caFile, cert_file: c.pki.admin.certFile, key_file: c.pki.admin.keyFile },
        static_configs: etcd,
      },
    ],
  });
}

before(async () => {
  cluster = await startLocalCluster({ dir: join(dir, "cluster"), basePort: BASE_PORT, shardsPerSite: 1, partitionCount: 4, extractors: 2, logLevel: "warn" });
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, prometheusConfig(cluster));
  prometheus = new ManagedProcess({
    name: "prometheus",
    // Never skipped: without the binary the test fails and says how to get it.
    command: findBinary("prometheus") ?? missing("prometheus (Debian package prometheus: bash scripts/install-deps.sh)"),
    args: [
      `--config.file=${config}`, `--storage.tsdb.path=${join(dir, "tsdb")}`, `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
      "--log.level=warn",
    ],
    cwd: dir,
    env: process.env,
    logFile: join(dir, "prometheus.log"),
  });
  prometheus.start();

  // Traffic through both sites' gateways, so the series that exist only once a call was made
  // (per-RPC, per-modality, per-stage) exist at both sites: enrolments, searches, a refusal.
  const caller = await cluster.issuer.metadata({ sub: "prometheus-test", roles: ["search", "enroll", "admin"] });
  const photos = (await loadSamplePhotos()).slice(0, 2);
  for (const [i, address] of Object.values(cluster.addresses.gateways).entries()) {
    const gateway = withCallMetadata(createClient(MatchingService, address, cluster.credentials("bearer")), caller);
    gateways.push(gateway);
    for (const [j, photo] of photos.entries()) {
      const { enrolled } = await enrollAllFaces(gateway, photo, (face) => `PROM${i}${j}${String(face).padStart(3, "0")}`);
      // A search for the first face enrolled (the photo may hold several: pick it by its box).
      const face = enrolled[0];
      assert.ok(face, `a face enrolled from ${photo.name}`);
      const centre = { x: face.box.xPx + face.box.widthPx / 2, y: face.box.yPx + face.box.heightPx / 2 };
      await searchFace(gateway, face.bytes, centre, { threshold: 0, maxCandidates: 3 });
    }
  }
});

after(async () => {
  for (const g of gateways) g.close();
  await prometheus?.stop(5_000);
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Waits until every target was scraped a few times since the traffic, so rate() windows hold two samples or more. */
async function scrapedSinceTraffic(): Promise<void> {
  const targets = Object.keys(cluster.services).length + cluster.etcd.members.length;
  await waitFor(
    "every target scraped 3 times, up",
    async () => {
      const up = await query("count_over_time(up[1h]) >= 3 and up == 1");
      return up.length === targets ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, abortIf: () => (prometheus.running ? undefined : `prometheus exited (${join(dir, "prometheus.log")})`) },
  );
}

test("every query of every dashboard and of every alert rule returns data; every rule evaluates", async () => {
  await scrapedSinceTraffic();
  const empty: string[] = [];
  const queries = [
    ...dashboardFiles().flatMap((f) => dashboardQueries(f).map((q) => ({ what: `${q.dashboard} "${q.panel}"`, expr: q.expr }))),
    ...alertRules().map((r) => ({ what: `rule ${r.alert}`, expr: r.query })),
  ];
  for (const q of queries) if ((await query(q.expr)).length === 0) empty.push(`${q.what}: ${q.expr}`);
  assert.deepEqual(empty, [], `queries with no data:\n${empty.join("\n")}`);
  assert.ok(queries.length > 60, `${queries.length} queries`);

  // The rules as Prometheus loaded them: all of the file, each evaluated at least once, no error.
  const rules = await waitFor(
    "every rule evaluated",
    async () => {
      const res = (await (await fetch(`${PROMETHEUS}/api/v1/rules`)).json()) as {
        data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; lastEvaluation: string }> }> };
      };
      const all = res.data.groups.flatMap((g) => g.rules);
      return all.every((r) => !r.lastEvaluation.startsWith("0001")) ? all : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  assert.deepEqual(rules.map((r) => r.name).sort(), alertRules().map((r) => r.alert).sort());
  assert.deepEqual(rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError}`), []);

  // On a healthy cluster no rule's condition holds: no alert even pending (every `for:` is longer
  // than this test, so pending is what a wrongly-set threshold would show).
  const alerts = await query("ALERTS");
  assert.deepEqual(alerts.map((s) => `${s.metric.alertname} ${s.metric.alertstate}`), []);
});

test("every service reports its RPC durations, observed by its own gRPC server", async () => {
  await scrapedSinceTraffic();
  const byService = await query("sum by (service) (taj_rpc_duration_seconds_count)");
  const reporting = byService.filter((s) => Number(s.value[1]) > 0).map((s) => s.metric.service).sort();
  assert.deepEqual(reporting, [...SERVICES].sort());
  // At both sites: the labels come from the processes, not from the scrape config alone.
  const sites = (await query("count by (site) (taj_rpc_duration_seconds_count)")).map((s) => s.metric.site).sort();
  assert.deepEqual(sites, ["a", "b"]);
});

test("replication lag: each shard reads the log's head as the gateway's Stats gives it, and every partition gets to 0", async () => {
  await scrapedSinceTraffic();
  const stats = await gateways[0]!.stats({}, { timeoutMs: 10_000 });
  const head = String(stats.logLastSequence);
  assert.ok(stats.logLastSequence > 0n, "the enrolments are in the log");
  await waitFor(
    "every shard at the log's head, lag 0",
    async () => {
      const heads = await query("taj_shard_log_last_sequence");
      const lag = await query("max by (site, shard) (taj_shard_replication_lag_sequences)");
      const ok = heads.length === 2 && heads.every((s) => s.value[1] === head) && lag.length === 2 && lag.every((s) => s.value[1] === "0");
      return ok ? true : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  );
  // Per partition, for each site's shard: every partition of the cluster, each at 0.
  const partitions = await query("taj_shard_replication_lag_sequences");
  assert.equal(partitions.length, 2 * cluster.partitionCount);
});

test("stopping a shard shows in the 'partition uncovered' and 'shard down' rule queries", async () => {
  await scrapedSinceTraffic();
  const rules = new Map(alertRules().map((r) => [r.alert, r]));
  const uncovered = rules.get("TajPartitionUncovered")!.query;
  const shardDown = rules.get("TajShardDown")!.query;
  const valueFor = (samples: Sample[], labels: Record<string, string>) =>
    samples.find((s) => Object.entries(labels).every(([k, v]) => s.metric[k] === v))?.value[1];
  const a1 = cluster.shard("a1");
  const a1Target = `127.0.0.1:${a1.env.METRICS_PORT}`;
  assert.equal(valueFor(await query(uncovered), { replica_site: "a" }), "0");
  assert.equal(valueFor(await query(shardDown), { instance: a1Target }), "1");

  await a1.stop();
  // No time bound is asserted: the coordinators see the membership revoked, the next scrape says so.
  await waitFor(
    "site a's partitions uncovered and shard a1 down",
    async () => {
      const u = valueFor(await query(uncovered), { replica_site: "a" });
      const d = valueFor(await query(shardDown), { instance: a1Target });
      return u === String(cluster.assignments.a1!.length) && d === "0" ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500 },
  );
  // Site b still holds every partition: nothing became unsearchable.
  assert.equal(valueFor(await query(uncovered), { replica_site: "b" }), "0");
  assert.equal((await query(rules.get("TajPartitionUnsearchable")!.query))[0]?.value[1], "0");
});

function missing(what: string): never {
  throw new Error(`not installed: ${what}`);
}
