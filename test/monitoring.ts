// Reads deploy/monitoring's alert rules and dashboards as the tests see them: every query, taken
// from the files themselves (never listed by hand), so a query added there is a query tested.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { repoRoot } from "@taj/devcluster";

export const MONITORING_DIR = join(repoRoot, "deploy", "monitoring");
export const RULES_FILE = join(MONITORING_DIR, "taj.rules.yml");
export const DASHBOARD_DIR = join(MONITORING_DIR, "grafana");

export interface AlertRule {
  alert: string;
  expr: string;
  /** expr without its final comparison: what must return data on a healthy cluster. */
  query: string;
  comparison: string;
  threshold: number;
  for: string | undefined;
  runbook: string | undefined;
  severity: string | undefined;
}

/**
 * `<query> <op> <number>` with the comparison last and at the top level (the rules file's house
 * rule). Refuses anything else, e.g. a trailing `bool` or a comparison inside parentheses only.
 */
export function splitThreshold(expr: string): { query: string; comparison: string; threshold: number } {
  const m = /^([\s\S]*\S)\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i.exec(expr.trim());
  if (!m) throw new Error(`not "<query> <comparison> <number>": ${expr}`);
  const query = m[1]!.trim();
  // The comparison must be the outermost operator: every bracket of the query is closed.
  let depth = 0;
  for (const ch of query) {
    if (ch === "(" || ch === "[" || ch === "{") depth++;
    if (ch === ")" || ch === "]" || ch === "}") depth--;
    if (depth < 0) throw new Error(`the comparison is inside brackets: ${expr}`);
  }
  if (depth !== 0) throw new Error(`unbalanced brackets: ${expr}`);
  return { query, comparison: m[2]!, threshold: Number(m[3]) };
}

interface RulesFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
}

export function alertRules(): AlertRule[] {
  const file = parse(readFileSync(RULES_FILE, "utf8")) as RulesFile;
  return file.groups.flatMap((g) =>
    g.rules.map((r) => {
      if (r.alert === undefined) throw new Error(`${g.name}: only alerting rules are expected, found ${r.record ?? "a rule without a name"}`);
      return {
        alert: r.alert,
        expr: r.expr,
        ...splitThreshold(r.expr),
        for: r.for,
        runbook: r.annotations?.runbook_url,
        severity: r.labels?.severity,
      };
    }),
  );
}

export interface DashboardQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

/** Every Grafana dashboard file, by file name. */
export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith(".json")).sort();
}

/** Every target expression of every panel (rows' nested panels included) of one dashboard file. */
export function dashboardQueries(file: string): DashboardQuery[] {
  const dashboard = JSON.parse(readFileSync(join(DASHBOARD_DIR, file), "utf8")) as { panels?: Panel[] };
  const out: DashboardQuery[] = [];
  const walk = (panels: Panel[] | undefined) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) {
        if (t.expr === undefined || t.expr.trim() === "") throw new Error(`${file}: panel "${p.title}" has a target without a query`);
        if (/\$\w|\$\{/.test(t.expr)) throw new Error(`${file}: panel "${p.title}" uses a Grafana variable the test cannot evaluate: ${t.expr}`);
        out.push({ dashboard: file, panel: p.title ?? "(untitled)", expr: t.expr });
      }
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}
