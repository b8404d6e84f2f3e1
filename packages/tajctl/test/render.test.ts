import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Modality, ShardStatusResponseSchema } from "@taj/proto";
import type { Layout } from "../src/layout.ts";
import { planBalanced } from "../src/plan.ts";
import { renderMoves, renderPlan, renderStatus } from "../src/render.ts";
import { applyShardStatus, buildReport, ranges, shardRows } from "../src/status.ts";
import { buildProgram } from "../src/cli.ts";

const emptyDir = mkdtempSync(join(tmpdir(), "taj-tajctl-flags-"));
after(() => rmSync(emptyDir, { recursive: true, force: true }));

const member = (partitions: number[], port: number) => ({ address: `127.0.0.1:${port}`, partitions, startedAt: "2026-11-23T16:00:00Z" });

function layout(): Layout {
  return {
    partitionCount: 8,
    assignments: new Map([
      ["a", new Map([["a1", [0, 1, 2, 3]], ["a2", [4, 5, 6, 7]], ["a3", [7]]])],
      ["b", new Map([["b1", [0, 1, 2, 3]], ["b2", [4, 5, 6, 7]]])],
    ]),
    members: new Map([
      ["a", new Map([["a1", member([0, 1, 2, 3], 1)], ["a2", member([4, 5, 6, 7], 2)], ["a3", member([], 3)]])],
      ["b", new Map([["b1", member([0, 1, 2, 3], 4)]])],
    ]),
  };
}

const status = (partitions: number[], applied: number) =>
  create(ShardStatusResponseSchema, {
    partitions,
    appliedSequence: BigInt(applied),
    counts: partitions.flatMap((p) => [
      { modality: Modality.FACE, partition: p, templates: 10n },
      { modality: Modality.TATTOO, partition: p, templates: 1n },
    ]),
  });

test("status report: coverage per site, loading, dead shards, lag, counts once per partition", () => {
  const l = layout();
  const rows = shardRows(l);
  assert.deepEqual(rows.map((r) => `${r.site}/${r.shard}`), ["a/a1", "a/a2", "a/a3", "b/b1", "b/b2"]);
  applyShardStatus(rows[0]!, status([0, 1, 2, 3], 100), 2000);
  applyShardStatus(rows[1]!, status([4, 5, 6, 7], 2000), 2000);
  applyShardStatus(rows[3]!, status([0, 1, 2, 3], 1990), 2000);
  const report = buildReport(l, rows, [{ address: "127.0.0.1:9", ok: false, error: "UNAVAILABLE: down" }], 2000, [], 1000);

  assert.equal(report.healthy, false);
  const a = report.sites.find((s) => s.site === "a")!;
  const b = report.sites.find((s) => s.site === "b")!;
  assert.deepEqual(a.uncovered, []);
  assert.deepEqual(a.templates, { face: 80, tattoo: 8 });
  assert.deepEqual(b.uncovered, [4, 5, 6, 7]);
  assert.equal(rows[0]!.lag, 1900);
  assert.ok(report.problems.some((p) => p.includes("a/a1 is 1900 events behind")));
  assert.ok(report.problems.some((p) => p.includes("a/a3 is still loading partitions 7")));
  assert.ok(report.problems.some((p) => p.includes("b/b2 is assigned partitions but not running")));
  assert.ok(report.problems.some((p) => p.includes("site b: partitions 4-7 have no live replica")));
  assert.ok(report.problems.some((p) => p.includes("coordinator 127.0.0.1:9 unreachable")));

  const text = renderStatus(report);
  assert.match(text, /health: DEGRADED/);
  assert.match(text, /log last sequence: 2000/);
  assert.match(text, /│ a +│ 3\/3 +│ face 80, tattoo 8 +│ none +│ none +│/);
  assert.match(text, /│ b +│ b2 +│ NO +│ - +│ 4-7 \(4\) +│ - \(0\) +│/);
  assert.match(text, /│ a +│ a3 +│ yes +│ 127\.0\.0\.1:3 +│ 7 \(1\) +│ - \(0\) +│/);
  assert.ok(!text.includes("\u001b["), "no colour codes");
  const json = JSON.parse(JSON.stringify(report)) as { sites: Array<{ site: string; uncovered: number[] }> };
  assert.deepEqual(json.sites.find((s) => s.site === "b")?.uncovered, [4, 5, 6, 7]);
});

test("a healthy cluster says so", () => {
  const l = layout();
  l.assignments.get("a")!.delete("a3");
  l.members.get("a")!.delete("a3");
  l.members.get("b")!.set("b2", member([4, 5, 6, 7], 5));
  const rows = shardRows(l);
  for (const r of rows) applyShardStatus(r, status(r.loaded, 10), 10);
  const report = buildReport(l, rows, [], 10, [], 1000);
  assert.deepEqual(report.problems, []);
  assert.match(renderStatus(report), /health: OK[\s\S]*no problems/);
});

test("plan and move tables", () => {
  const plan = planBalanced("a", 8, new Map([["a1", [0, 1, 2, 3]], ["a2", [4, 5, 6, 7]], ["a3", []]]), ["a1", "a2"]);
  assert.match(renderPlan(plan, 8), /site a: 0 partition move\(s\) of 8/);
  assert.match(renderPlan(plan, 8), /│ a3 +│ \(retired: assignment deleted\) │ 0 +│/);
  const out = planBalanced("a", 8, new Map([["a1", [0, 1, 2, 3]], ["a2", [4, 5, 6, 7]]]), ["a1", "a2", "a3", "a4"]);
  const text = renderPlan(out, 8);
  assert.match(text, /site a: 4 partition move\(s\) of 8/);
  assert.match(text, /│ 2 +│ a1 +│ a3 +│/);
  const moves = renderMoves([{ partition: 2, from: ["a1"], to: "a3", loadMs: 1234, totalMs: 3456 }]);
  assert.match(moves, /│ 2 +│ a1 +│ a3 +│ 1\.23 s +│ 3\.46 s +│/);
  assert.match(moves, /1 partition\(s\) moved; longest 3\.46 s/);
  assert.equal(ranges([7, 0, 1, 2, 3, 9, 10]), "0-3,7,9-10");
});

/** Commander copies exit/output settings to subcommands only when they are created, so set them on each. */
function quietProgram(errors: string[]) {
  // Looking for the endpoints file where there is none: a running local cluster's must not supply the flags under test.
  const program = buildProgram(() => undefined, { cwd: emptyDir });
  for (const cmd of [program, ...program.commands]) {
    cmd.exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
  }
  return program;
}

// The global flags every command needs; the files are never opened before the flags are checked.
const GLOBALS = ["--etcd", "https://127.0.0.1:1", "--tls-ca", "ca.pem", "--tls-cert", "admin.pem", "--tls-key", "admin.key"];

test("the command line refuses contradictory scale flags and a zero shard count", async () => {
  const errors: string[] = [];
  await assert.rejects(quietProgram(errors).parseAsync(["node", "tajctl", ...GLOBALS, "scale", "--site", "a", "--shards", "4", "--add", "a3"]));
  assert.match(errors.join(""), /cannot be used with option/);
  errors.length = 0;
  await assert.rejects(quietProgram(errors).parseAsync(["node", "tajctl", ...GLOBALS, "scale", "--site", "a", "--shards", "0"]));
  assert.match(errors.join(""), /must be a positive integer/);
  errors.length = 0;
  // No operator certificate, no command: every port is mutual TLS.
  await assert.rejects(quietProgram(errors).parseAsync(["node", "tajctl", "--etcd", "https://127.0.0.1:1", "status"]));
  assert.match(errors.join(""), /required option '--tls-ca <file>'/);
});

test("status: the projection version each shard's indexes hold is shown beside its templates", () => {
  const l = layout();
  const rows = shardRows(l);
  applyShardStatus(rows[0]!, create(ShardStatusResponseSchema, {
    partitions: [0, 1, 2, 3], appliedSequence: 2000n, counts: status([0, 1, 2, 3], 2000).counts, projections: [{ modality: Modality.TATTOO, version: 2 }],
  }), 2000);
  applyShardStatus(rows[1]!, status([4, 5, 6, 7], 2000), 2000);
  assert.deepEqual(rows[0]!.projections, { tattoo: 2 });
  assert.deepEqual(rows[1]!.projections, {});
  const text = renderStatus(buildReport(l, rows, [], 2000, [], 1000));
  const line = (shard: string) => text.split("\n").find((t) => t.includes(` ${shard} `))!;
  assert.match(line("a1"), /\(tattoo: projection v2\)/);
  assert.doesNotMatch(line("a2"), /projection/);
});
