// `npm audit` of the production dependencies (what the images ship), for scripts/test.sh.
// Fails on a high or critical advisory. When the registry's audit endpoint cannot be reached or
// refuses the request (a mirror that serves only GET, no network), it says so on one line and
// passes: an unreachable advisory database is not a finding, and CI's output must not read as if
// the audit had run.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const FAIL_AT = new Set(["high", "critical"]);
const root = join(import.meta.dirname, "..");

const run = spawnSync(
  "npm",
  ["audit", "--omit=dev", "--json", "--fetch-timeout=30000", "--fetch-retries=1"],
  { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
);

interface Vulnerability { name: string; severity: string; via: unknown[]; fixAvailable: unknown }
interface Report { metadata: { vulnerabilities: Record<string, number>; dependencies?: { prod?: number } }; vulnerabilities: Record<string, Vulnerability> }

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
const json = parse(run.stdout);

if (!isRecord(json) || !isRecord(json.metadata) || !isRecord(json.metadata.vulnerabilities)) {
  // npm's error shape: { message, statusCode, error: { code, summary } }, or nothing on stdout.
  const err = isRecord(json) ? json : {};
  const inner = isRecord(err.error) ? err.error : {};
  const firstError = run.stderr.split("\n").find((l) => l.startsWith("npm error"))?.replace(/^npm error\s*/, "");
  const reason = [err.message, inner.code, inner.summary, firstError, run.error?.message].find((s) => typeof s === "string" && s !== "");
  console.log(`npm audit: registry audit endpoint unreachable (${typeof reason === "string" ? reason : `npm exited ${run.status}`}); not audited, not failing`);
  process.exit(0);
}

const report = json as unknown as Report;
const counts = report.metadata.vulnerabilities;
const summary = ["critical", "high", "moderate", "low", "info"].map((s) => `${counts[s] ?? 0} ${s}`).join(", ");
console.log(`npm audit (production dependencies${report.metadata.dependencies?.prod ? `: ${report.metadata.dependencies.prod}` : ""}): ${summary}`);
const serious = Object.values(report.vulnerabilities).filter((v) => FAIL_AT.has(v.severity));
for (const v of serious) {
  const titles = v.via.filter(isRecord).map((a) => `${String(a.title)} ${String(a.url)}`);
  const via = titles.length > 0 ? titles.join("; ") : `through ${v.via.filter((a) => typeof a === "string").join(", ")}`;
  console.log(`  ${v.severity}: ${v.name}: ${via}`);
}
if (serious.length > 0) {
  console.error("npm audit: high or critical advisories in production dependencies (see above; `npm audit --omit=dev` for fixes)");
  process.exit(1);
}
