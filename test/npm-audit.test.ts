// scripts/npm-audit.ts against a loopback stand-in for the registry's bulk advisory endpoint
// (the real one is not reachable from CI): a finding fails, none passes, a refusal says so.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";

const script = join(import.meta.dirname, "..", "scripts", "npm-audit.ts");
/** What the stand-in answers next: an advisory on `nats`, no advisory, or 405 as this network's mirror does. */
let mode: "advisory" | "clean" | "refuse" = "clean";
let asked: string[] = [];
let server: Server;
let registry = "";

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (mode === "refuse" || req.method !== "POST" || req.url !== "/-/npm/v1/security/advisories/bulk") {
        res.writeHead(405, { allow: "GET,HEAD" }).end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw;
      asked = Object.keys(JSON.parse(body.toString("utf8")) as Record<string, string[]>);
      const advisory = { id: 1, url: "https://github.com/advisories/GHSA-test", title: "stub advisory", severity: "high", vulnerable_versions: "<99.0.0", cwe: [], cvss: { score: 7.5 } };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(mode === "advisory" ? { nats: [advisory] } : {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function audit(): Promise<{ code: number; out: string }> {
  const env = { ...process.env, npm_config_registry: registry };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--import", "tsx", script], { env });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: (e.stdout ?? "") + (e.stderr ?? "") };
  }
}

test("a high advisory in a production dependency fails, naming the package and the advisory", async () => {
  mode = "advisory";
  const r = await audit();
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /high: nats: stub advisory https:\/\/github\.com\/advisories\/GHSA-test/);
  assert.ok(asked.includes("nats") && !asked.includes("c8"), "production dependencies only");
});

test("no advisory passes and prints the counts", async () => {
  mode = "clean";
  const r = await audit();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /npm audit \(production dependencies[^)]*\): 0 critical, 0 high, 0 moderate/);
});

test("an endpoint that refuses the request is reported as unreachable, and does not fail", async () => {
  mode = "refuse";
  const r = await audit();
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^npm audit: registry audit endpoint unreachable \(405 Method Not Allowed/m);
});
