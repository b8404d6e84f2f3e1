// deploy/monitoring without a cluster: the dashboards are what their generator writes, every rule
// keeps the shape test/prometheus.test.ts relies on, and every taj_* metric they name exists in
// the code. (promtool checks the rules' syntax in scripts/test.sh; prometheus.test.ts runs them.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { findBinary, repoRoot } from "@taj/devcluster";
import { SITES, dashboardText } from "../deploy/monitoring/dashboards.ts";
import { RULES_CONFIGMAP, rulesConfigMapText } from "../deploy/monitoring/generate.ts";
import { DASHBOARD_DIR, RULES_FILE, alertRules, dashboardFiles, dashboardQueries, splitThreshold } from "./monitoring.ts";

/** The runbook sections of docs/operations.md the rules point to (by GitHub heading anchor). */
const RUNBOOK_ANCHORS = ["lost-site", "lost-shard", "lost-etcd-quorum", "nats-leader-loss", "certificate-rotation", "extractor-pods"];

test("each site's dashboard is exactly what deploy/monitoring/generate.ts writes (run it after editing)", () => {
  assert.deepEqual(dashboardFiles(), SITES.map((s) => `taj-site-${s}.json`));
  for (const site of SITES) {
    assert.equal(readFileSync(join(DASHBOARD_DIR, `taj-site-${site}.json`), "utf8"), dashboardText(site), `taj-site-${site}.json is stale`);
    const queries = dashboardQueries(`taj-site-${site}.json`);
    assert.ok(queries.length > 20);
    // Every query is about its own site (or, for the cluster-wide ones, says so by having no site).
    const other = SITES.filter((s) => s !== site);
    for (const q of queries) for (const o of other) assert.doesNotMatch(q.expr, new RegExp(`site="${o}"`), `${q.panel}: ${q.expr}`);
  }
});

test("deploy/k8s/monitoring renders (kubectl kustomize) to one ConfigMap holding taj.rules.yml as it is", () => {
  assert.equal(readFileSync(RULES_CONFIGMAP, "utf8"), rulesConfigMapText(), "prometheus-rules.yaml is stale: run deploy/monitoring/generate.ts");
  const kubectl = findBinary("kubectl");
  assert.ok(kubectl, "kubectl not found: run `bash scripts/install-deps.sh` (Debian's kubernetes-client)");
  const rendered = parse(execFileSync(kubectl, ["kustomize", join(repoRoot, "deploy", "k8s", "monitoring")], { encoding: "utf8" })) as {
    kind: string; metadata: { name: string; namespace: string }; data: Record<string, string>;
  };
  assert.equal(rendered.kind, "ConfigMap");
  assert.equal(rendered.metadata.namespace, "monitoring");
  assert.deepEqual(Object.keys(rendered.data), ["taj.rules.yml"]);
  assert.equal(rendered.data["taj.rules.yml"], readFileSync(RULES_FILE, "utf8"));
});

test("every alert rule is '<query> <comparison> <number>', waits (for:), has a severity and a runbook section", () => {
  const rules = alertRules();
  assert.ok(rules.length >= 15);
  assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, "alert names are unique");
  for (const r of rules) {
    assert.match(r.for ?? "", /^\d+[smh]$/, `${r.alert}: for:`);
    assert.ok(r.severity === "warning" || r.severity === "critical", `${r.alert}: severity ${r.severity}`);
    const anchor = /^docs\/operations\.md#([a-z0-9-]+)$/.exec(r.runbook ?? "")?.[1];
    assert.ok(anchor !== undefined && RUNBOOK_ANCHORS.includes(anchor), `${r.alert}: runbook ${r.runbook}`);
  }
  // The splitter itself: what it must refuse.
  assert.throws(() => splitThreshold("absent(up)"), /not/);
  assert.throws(() => splitThreshold("(up > 1)"), /not|brackets/);
  assert.throws(() => splitThreshold("max(up > 1) or vector(1)"), /not/);
  assert.deepEqual(splitThreshold("sum by (site) (up{job=\"taj\"}) < 1"), { query: "sum by (site) (up{job=\"taj\"})", comparison: "<", threshold: 1 });
});

/** Names of the metrics the code registers (`name: "taj_..."` in src/), and prom-client's histogram series. */
function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  const roots = ["packages", "services"].map((d) => join(repoRoot, d));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === "node_modules" || entry === "test" || entry === "gen") continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith(".ts")) for (const m of readFileSync(path, "utf8").matchAll(/name: "(taj_[a-z0-9_]+)"/g)) names.add(m[1]!);
    }
  };
  for (const r of roots) walk(r);
  return names;
}

test("every taj_* metric the rules and dashboards use is one the code registers", () => {
  const known = registeredMetrics();
  assert.ok(known.has("taj_rpc_duration_seconds"));
  const used = [...alertRules().map((r) => r.expr), ...dashboardFiles().flatMap((f) => dashboardQueries(f).map((q) => q.expr))];
  for (const expr of used) {
    for (const [name] of expr.matchAll(/taj_[a-z0-9_]+/g)) {
      const base = name.replace(/_(bucket|count|sum)$/, "");
      assert.ok(known.has(name) || known.has(base), `${name} (in ${expr}) is registered nowhere`);
    }
  }
});
