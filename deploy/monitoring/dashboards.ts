// One Grafana dashboard per site (deploy/monitoring/grafana/taj-site-<site>.json) from the one
// definition below, so the sites' dashboards cannot drift apart; written by generate.ts.
// test/monitoring-files.test.ts fails when the committed JSON differs from what this makes, and
// test/prometheus.test.ts evaluates every query of the JSON against a running local cluster.
// Queries name the site literally (site="a"): what a panel shows is exactly what the test ran.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const SITES = ["a", "b"] as const;

interface Query {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  kind: "timeseries" | "stat";
  queries: Query[];
}

interface Row {
  title: string;
  panels: PanelSpec[];
}

/** `s` is the site's label matcher, e.g. site="a". */
function rows(site: string): Row[] {
  const s = `site="${site}"`;
  return [
    {
      title: "Health",
      panels: [
        { title: "Processes answering", description: "Scrapes that answered, by service (up)", unit: "none", kind: "stat",
          queries: [{ expr: `sum by (service) (up{job="taj", ${s}})`, legend: "{{service}}" }] },
        { title: "Serving", description: "Processes whose gRPC health is SERVING (what /readyz says)", unit: "none", kind: "stat",
          queries: [{ expr: `sum by (service) (taj_grpc_serving{${s}})`, legend: "{{service}}" }] },
        { title: "Partitions without a replica here", description: "From the coordinators' routing tables (worst of both)", unit: "none", kind: "stat",
          queries: [{ expr: `max(taj_coordinator_uncovered_partitions{replica_site="${site}"})`, legend: "uncovered" }] },
        { title: "Partitions searchable nowhere", description: "No live replica at any site: searches answer incomplete", unit: "none", kind: "stat",
          queries: [{ expr: `max(taj_coordinator_unsearchable_partitions)`, legend: "unsearchable" }] },
        { title: "etcd has a leader", description: "This site's etcd member", unit: "none", kind: "stat",
          queries: [{ expr: `max(etcd_server_has_leader{job="etcd", ${s}})`, legend: "leader" }] },
      ],
    },
    {
      title: "Public API (gateway)",
      panels: [
        { title: "Calls by RPC and code", description: "taj_rpc_duration_seconds_count rate", unit: "reqps", kind: "timeseries",
          queries: [{ expr: `sum by (rpc, code) (rate(taj_rpc_duration_seconds_count{service="gateway", ${s}}[5m]))`, legend: "{{rpc}} {{code}}" }] },
        { title: "Latency by RPC (p50, p99)", description: "Server side, audit write included", unit: "s", kind: "timeseries",
          queries: [
            { expr: `histogram_quantile(0.5, sum by (rpc, le) (rate(taj_rpc_duration_seconds_bucket{service="gateway", ${s}}[5m])))`, legend: "p50 {{rpc}}" },
            { expr: `histogram_quantile(0.99, sum by (rpc, le) (rate(taj_rpc_duration_seconds_bucket{service="gateway", ${s}}[5m])))`, legend: "p99 {{rpc}}" },
          ] },
        { title: "Searches by modality and completeness", description: "complete=false: some partitions could not be searched", unit: "reqps", kind: "timeseries",
          queries: [{ expr: `sum by (modality, complete) (rate(taj_gateway_searches_total{${s}}[5m]))`, legend: "{{modality}} complete={{complete}}" }] },
        { title: "Enrolments by modality and code", description: "", unit: "reqps", kind: "timeseries",
          queries: [{ expr: `sum by (modality, code) (rate(taj_gateway_enrollments_total{${s}}[5m]))`, legend: "{{modality}} {{code}}" }] },
      ],
    },
    {
      title: "Audit",
      panels: [
        { title: "Audit write failures", description: "Calls refused AUDIT_UNAVAILABLE (no audit, no answer)", unit: "reqps", kind: "timeseries",
          queries: [{ expr: `sum by (rpc) (rate(taj_gateway_audit_write_failures_total{${s}}[5m]))`, legend: "{{rpc}}" }] },
        { title: "Audit append latency (p99)", description: "Until the audit stream's quorum stored the event", unit: "s", kind: "timeseries",
          queries: [{ expr: `histogram_quantile(0.99, sum by (le, outcome) (rate(taj_gateway_audit_append_duration_seconds_bucket{${s}}[5m])))`, legend: "{{outcome}}" }] },
      ],
    },
    {
      title: "Extraction",
      panels: [
        { title: "Waiting for an extractor", description: "Gateways' extractor pool queue (EXTRACTOR_MAX_QUEUED), and each extractor's own (EXTRACT_MAX_QUEUED)", unit: "none", kind: "timeseries",
          queries: [
            { expr: `sum(taj_gateway_extractor_queue_depth{${s}})`, legend: "at the gateways" },
            { expr: `sum by (instance) (taj_extractor_queue_depth{${s}})`, legend: "in {{instance}}" },
          ] },
        { title: "Extractions in flight", description: "Sent by this site's gateways (local or remote extractors), and running in this site's extractors", unit: "none", kind: "timeseries",
          queries: [
            { expr: `sum by (upstream) (taj_gateway_extractor_in_flight{${s}})`, legend: "sent to {{upstream}}" },
            { expr: `sum by (instance) (taj_extractor_in_flight{${s}})`, legend: "running {{instance}}" },
          ] },
        { title: "Extraction stages (p95)", description: "decode, detect, landmarks, embed, total", unit: "s", kind: "timeseries",
          queries: [{ expr: `histogram_quantile(0.95, sum by (stage, le) (rate(taj_extract_stage_seconds_bucket{${s}}[5m])))`, legend: "{{stage}}" }] },
        { title: "Extraction refusals and failures", description: "By code (NO_FACE, IMAGE_CORRUPT, ...)", unit: "reqps", kind: "timeseries",
          queries: [{ expr: `sum by (code) (rate(taj_rpc_duration_seconds_count{service="extractor", code!="OK", ${s}}[5m])) or sum(rate(taj_rpc_duration_seconds_count{service="extractor", ${s}}[5m])) * 0`, legend: "{{code}}" }] },
      ],
    },
    {
      title: "Search fan-out",
      panels: [
        { title: "Coordinator fan-out (p50, p99)", description: "First shard call to merged answer", unit: "s", kind: "timeseries",
          queries: [
            { expr: `histogram_quantile(0.5, sum by (le) (rate(taj_coordinator_fanout_seconds_bucket{${s}}[5m])))`, legend: "p50" },
            { expr: `histogram_quantile(0.99, sum by (le) (rate(taj_coordinator_fanout_seconds_bucket{${s}}[5m])))`, legend: "p99" },
          ] },
        { title: "Partitions left unsearched", description: "Summed over searches: no replica could answer for them", unit: "none", kind: "timeseries",
          queries: [{ expr: `sum(rate(taj_coordinator_unsearched_partitions_total{${s}}[5m]))`, legend: "per second" }] },
        { title: "Shard search time (p99) by mode", description: "Inside the replica", unit: "s", kind: "timeseries",
          queries: [{ expr: `histogram_quantile(0.99, sum by (mode, le) (rate(taj_shard_search_duration_seconds_bucket{${s}}[5m])))`, legend: "{{mode}}" }] },
        { title: "Live replicas", description: "Shards with a membership lease, as each coordinator sees them", unit: "none", kind: "stat",
          queries: [{ expr: `max(taj_coordinator_live_replicas{replica_site="${site}"})`, legend: "replicas" }] },
      ],
    },
    {
      title: "Templates and replication",
      panels: [
        // max over replicas of one partition, then the sum: a partition held twice is counted once.
        { title: "Templates by modality and model", description: "Held at this site; during a model upgrade the new model's line climbs to the old one's", unit: "none", kind: "timeseries",
          queries: [{ expr: `sum by (modality, model) (max by (modality, model, partition) (taj_shard_templates{${s}}))`, legend: "{{modality}} {{model}}" }] },
        { title: "Templates by partition", description: "All modalities and models; an uneven spread shows in the top partitions", unit: "none", kind: "timeseries",
          queries: [{ expr: `sum by (partition) (max by (modality, model, partition) (taj_shard_templates{${s}}))`, legend: "p{{partition}}" }] },
        { title: "Replication lag", description: "Log sequences not yet applied, worst partition per shard", unit: "none", kind: "timeseries",
          queries: [{ expr: `max by (shard) (taj_shard_replication_lag_sequences{${s}})`, legend: "{{shard}}" }] },
        { title: "Log reachable", description: "1 when the shard's last read of the template stream answered", unit: "none", kind: "timeseries",
          queries: [{ expr: `min by (shard) (taj_shard_log_reachable{${s}})`, legend: "{{shard}}" }] },
        { title: "Snapshot age", description: "Since the snapshot on disk stopped holding every change (0: current)", unit: "s", kind: "timeseries",
          queries: [{ expr: `max by (shard) (taj_shard_snapshot_age_seconds{${s}})`, legend: "{{shard}}" }] },
      ],
    },
    {
      title: "Certificates and processes",
      panels: [
        { title: "Certificate expiry", description: "Earliest per service: identity (its own) and the cluster CA", unit: "s", kind: "stat",
          queries: [{ expr: `min by (service, certificate) (taj_tls_certificate_expiry_seconds{${s}})`, legend: "{{service}} {{certificate}}" }] },
        { title: "CPU by service", description: "Cores used", unit: "none", kind: "timeseries",
          queries: [{ expr: `sum by (service) (rate(process_cpu_seconds_total{job="taj", ${s}}[5m]))`, legend: "{{service}}" }] },
        { title: "Resident memory by service", description: "", unit: "bytes", kind: "timeseries",
          queries: [{ expr: `sum by (service) (process_resident_memory_bytes{job="taj", ${s}})`, legend: "{{service}}" }] },
        { title: "Event loop lag (p99)", description: "A blocked loop delays every call of the process", unit: "s", kind: "timeseries",
          queries: [{ expr: `max by (service) (nodejs_eventloop_lag_p99_seconds{${s}})`, legend: "{{service}}" }] },
      ],
    },
  ];
}

const DATASOURCE = { type: "prometheus", uid: "${datasource}" };
const PANEL_HEIGHT = 8;

/** A Grafana dashboard (schema 39) for one site. */
export function dashboardFor(site: string): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of rows(site)) {
    panels.push({ id: id++, type: "row", title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    // Up to four panels side by side, 8 high; a fifth starts the next line.
    const width = row.panels.length >= 4 ? 6 : 24 / row.panels.length;
    row.panels.forEach((p, i) => {
      panels.push({
        id: id++,
        type: p.kind,
        title: p.title,
        description: p.description,
        datasource: DATASOURCE,
        gridPos: { h: PANEL_HEIGHT, w: width, x: (i * width) % 24, y: y + Math.floor((i * width) / 24) * PANEL_HEIGHT },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        options: p.kind === "stat" ? { reduceOptions: { calcs: ["lastNotNull"] }, colorMode: "value" } : { legend: { displayMode: "list", placement: "bottom" } },
        targets: p.queries.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource: DATASOURCE, expr: q.expr, legendFormat: q.legend })),
      });
    });
    y += Math.ceil((row.panels.length * width) / 24) * PANEL_HEIGHT;
  }
  return {
    uid: `taj-site-${site}`,
    title: `TAJ matching: site ${site}`,
    description: `Generated by deploy/monitoring/generate.ts from dashboards.ts; alert rules in deploy/monitoring/taj.rules.yml.`,
    tags: ["taj", `site-${site}`],
    schemaVersion: 39,
    version: 1,
    editable: true,
    time: { from: "now-6h", to: "now" },
    refresh: "30s",
    templating: {
      list: [{ name: "datasource", label: "Prometheus", type: "datasource", query: "prometheus", current: {}, hide: 0 }],
    },
    annotations: { list: [] },
    panels,
  };
}

export function dashboardPath(site: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), "grafana", `taj-site-${site}.json`);
}

export function dashboardText(site: string): string {
  return `${JSON.stringify(dashboardFor(site), null, 2)}\n`;
}

