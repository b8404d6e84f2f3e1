import { writeFile } from "node:fs/promises";
import sharp from "sharp";
import { renderSvg, type Chart, type Series } from "@taj/eval";
import { formatSize } from "./args.ts";
import type { BenchResult } from "./run.ts";
import { MATCHED_RECALL_SLACK, matchedRecallReference, TUNED_ENGINES } from "./engine-run.ts";
import { SHARD_HNSW } from "./engines/usearch.ts";
import type { ClusterResult, Throughput } from "./cluster/cluster-bench.ts";

const f = (x: number | undefined, digits = 3) => (x === undefined || !Number.isFinite(x) ? "-" : String(Number(x.toPrecision(digits))));
const pct = (x: number | undefined) => (x === undefined ? "-" : `${(x * 100).toFixed(1)} %`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Result files written before both modes were measured hold one (approximate) throughput object. */
function throughputs(c: ClusterResult): Throughput[] {
  const t = c.throughput as Throughput[] | Omit<Throughput, "mode">;
  return Array.isArray(t) ? t : [{ ...t, mode: "approximate" }];
}

/** The printed summary: one block per scale, then the image figures. */
export function formatReport(r: BenchResult): string {
  const out: string[] = [];
  const g = r.generator;
  out.push(`Machine: ${r.machine.cpus} cores (${r.machine.cpuModel}), ${(r.machine.memoryBytes / 2 ** 30).toFixed(0)} GiB, Node ${r.machine.node}, load at start ${r.machine.load}`);
  out.push(
    `Generator: genuine ${f(g.measured.genuine.mean)} ± ${f(g.measured.genuine.sd, 2)}, impostor ${f(g.measured.impostor.mean, 2)} ± ${f(g.measured.impostor.sd, 2)}` +
      (g.realModel
        ? `; real model on the sample faces: cross-photo genuine ${f(g.realModel.crossPhoto.mean)} (n=${g.realModel.crossPhoto.n}), re-rendering ${f(g.realModel.rerendering.mean)}, impostor ${f(g.realModel.impostor.mean, 2)} ± ${f(g.realModel.impostor.sd, 2)}`
        : ""),
  );
  for (const s of r.scales) {
    out.push("", `== ${formatSize(s.size)} templates, ${r.options.probes} probes, k = 10, one query at a time ==`);
    const rows = Object.values(s.engines).map((e) => [
      e.engine + (e.effortName ? ` (${e.effortName} ${e.effort})` : "") + (e.batched ? " (all probes in one streamed pass)" : ""),
      pct(e.recallAt1), pct(e.recallAt10), f(e.latency.p50Ms), f(e.latency.p99Ms), f(e.searchesPerSecond),
      f(e.buildPerSecond), f(e.memoryBytesPerTemplate), f(e.diskBytesPerTemplate),
    ]);
    const c = s.cluster;
    const raw = s.engines["usearch-hnsw-i8"];
    if (c) {
      for (const m of c.search) {
        rows.push([
          `cluster ${m.mode} (coordinator -> ${c.layout.shardsPerSite} shards)`,
          pct(m.recallAt1), pct(m.recallAt10), f(m.latency.p50Ms), f(m.latency.p99Ms), f(m.searchesPerSecond),
          f(c.enrollment.templatesPerSecondBothSites), f(c.memory.shardRssBytesPerTemplatePerSite), f(c.disk.shardBytesPerTemplatePerSite),
        ]);
      }
    }
    out.push(table(["engine", "recall@1", "recall@10", "p50 ms", "p99 ms", "search/s", "build/s", "RAM B/tpl", "disk B/tpl"], rows));
    for (const [k, v] of Object.entries(s.engineErrors)) out.push(`  ${k}: ${v}`);
    const reference = matchedRecallReference(s.engines);
    if (reference) {
      const target = reference.recallAt10 - MATCHED_RECALL_SLACK;
      const tuned = TUNED_ENGINES.flatMap((n) => {
        const e = s.engines[n];
        return e && e.engine !== reference.engine ? [{ e, atTarget: p50AtRecall(e.tuning, target) }] : [];
      });
      const ours = s.engines["usearch-hnsw-i8"];
      const parts = tuned.map(({ e, atTarget }) => {
        const head = `${e.engine} p50 ${f(e.latency.p50Ms)} ms at ${e.effortName} ${e.effort} (recall@10 ${pct(e.recallAt10)})` +
          (atTarget === undefined ? ", target not reached" : `, ${f(atTarget)} ms interpolated to the target = ${f(atTarget / reference.latency.p50Ms)} x the reference`);
        if (e.engine === "usearch-hnsw-i8") return head;
        // Short of the target, it is still matched with usearch's curve at the recall it did reach.
        const recall = atTarget === undefined ? e.recallAt10 : target;
        const oursThere = ours && p50AtRecall(ours.tuning, recall);
        return head + (oursThere === undefined ? "" : `; at ${pct(recall)} it takes ${f((atTarget ?? e.latency.p50Ms) / oursThere)} x usearch-hnsw-i8's time (${f(oursThere)} ms interpolated)`);
      });
      if (parts.length) out.push(`  matched recall (target ${pct(target)}: ${reference.engine}'s recall@10 ${pct(reference.recallAt10)} less ${MATCHED_RECALL_SLACK * 100} points; its p50 ${f(reference.latency.p50Ms)} ms): ${parts.join("; ")}`);
    }
    if (c) {
      const approx = c.search.find((m) => m.mode === "approximate");
      // The cluster searches at the shard's default expansion: compare with the raw graph there.
      const rawP50 = raw?.tuning.find((t) => t.effort === SHARD_HNSW.expansion_search)?.p50Ms ?? raw?.latency.p50Ms;
      if (approx && rawP50 !== undefined) {
        out.push(
          `  cluster overhead: cluster p50 / raw usearch p50 = ${f(approx.latency.p50Ms / rawP50)} (${f(approx.latency.p50Ms)} vs ${f(rawP50)} ms); ` +
            `one ShardSearch straight to shard a1: p50 ${f(c.shardDirect?.p50Ms)} ms, p99 ${f(c.shardDirect?.p99Ms)} ms`,
        );
      }
      out.push(
        ...throughputs(c).map((t) => `  throughput ${t.mode}: ${f(t.searchesPerSecond)} searches/s at ${t.concurrency} in flight (p50 ${f(t.latency.p50Ms)} ms, p99 ${f(t.latency.p99Ms)} ms)`),
        `  enrollment: ${f(c.enrollment.templatesPerSecondBothSites)} templates/s applied at both sites (publish ${f(c.enrollment.publishSeconds)} s; ` +
          `applied per shard ${Object.entries(c.enrollment.secondsToApplied).map(([k, v]) => `${k} ${f(v)} s`).join(", ")})`,
        `  freshness (ack -> found): ${Object.entries(c.freshness).map(([site, l]) => `site ${site} p50 ${f(l.p50Ms)} ms p99 ${f(l.p99Ms)} ms${l.missed ? ` (${l.missed} missed)` : ""}`).join("; ")}`,
        `  memory: shard RSS ${f(c.memory.shardRssBytesPerTemplatePerSite)} B/template per site; disk: snapshots ${f(c.disk.shardBytesPerTemplatePerSite)} B/template per site${c.disk.snapshotted ? "" : " (snapshot not yet covering all)"}, log ${f(c.disk.logBytesPerTemplatePerReplica)} B/template per replica (x3)`,
        `  cost: CPU-s per search ${c.search.map((m) => {
          const t = throughputs(c).find((x) => x.mode === m.mode);
          return `${m.mode} ${f(m.cpuSecondsPerSearch)} one at a time${t ? `, ${f(t.cpuSecondsPerSearch)} at ${t.concurrency} in flight` : ""}`;
        }).join("; ")}; ${f(c.enrollment.cpuSecondsPerEnrollment)} CPU-s per enrollment (all processes, both sites, log x3)`,
      );
      if (c.restart) {
        const x = c.restart;
        out.push(`  shard ${x.shard} restart (${x.templatesOnShard} templates): after SIGTERM ${f(x.afterSigtermSeconds)} s (stop took ${f(x.stopSeconds)} s), after SIGKILL ${f(x.afterSigkillSeconds)} s, rebuild from the log ${f(x.rebuildFromLogSeconds)} s`);
      }
      if (c.restartError) out.push(`  shard restart: ${c.restartError}`);
    }
    if (s.clusterError) out.push(`  cluster: ${s.clusterError.split("\n")[0]}`);
    const gi = s.gatewayImages;
    if (gi) {
      out.push(
        `  images through the gateway: ${gi.enrolled} real portraits enrolled among ${formatSize(gi.galleryDistractors)} synthetic templates, ${gi.searches} image searches: ` +
          `image -> candidates p50 ${f(gi.searchLatency.p50Ms)} ms, p99 ${f(gi.searchLatency.p99Ms)} ms (${gi.searchesNeedingABox} sent twice with a box); rank-1 ${pct(gi.rank1)}; ` +
          `enroll p50 ${f(gi.enrollLatency.p50Ms)} ms; ${f(gi.cpuSecondsPerImageSearch)} CPU-s per image search`,
      );
    }
  }
  if (r.extraction) {
    const x = r.extraction;
    out.push("", `== extraction, ${x.images} sample images, in process, 1 thread ==`);
    out.push(table(["stage", "p50 ms", "p99 ms", "mean ms"], Object.entries(x.stages).map(([k, l]) => [k, f(l.p50Ms), f(l.p99Ms), f(l.meanMs)])));
    out.push(`  ${f(x.imagesPerSecondPerCore)} images/s per core`);
  }
  return out.join("\n");
}

/**
 * p50 at exactly `target` recall, interpolated linearly between the two tuning points around it
 * (the ef steps are coarse: the first one reaching the target usually overshoots it).
 */
export function p50AtRecall(tuning: readonly { recallAtK: number; p50Ms: number }[], target: number): number | undefined {
  for (let i = 1; i < tuning.length; i++) {
    const a = tuning[i - 1]!, b = tuning[i]!;
    if (a.recallAtK < target && b.recallAtK >= target) {
      return a.p50Ms + ((target - a.recallAtK) / (b.recallAtK - a.recallAtK)) * (b.p50Ms - a.p50Ms);
    }
  }
  return tuning[0] !== undefined && tuning[0].recallAtK >= target ? tuning[0].p50Ms : undefined;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

/** p50 latency against gallery size for every engine and the cluster's two modes. */
export function latencyChart(r: BenchResult): Chart {
  const names = new Set<string>();
  for (const s of r.scales) for (const n of Object.keys(s.engines)) names.add(n);
  const series: Series[] = [...names].map((n, i) => ({
    name: n, color: COLORS[i % COLORS.length]!, kind: "line", markers: true,
    points: r.scales.flatMap((s) => {
      const e = s.engines[n as keyof typeof s.engines];
      return e ? [[s.size, e.latency.p50Ms] as const] : [];
    }),
  }));
  for (const mode of ["approximate", "exhaustive"] as const) {
    series.push({
      name: `cluster ${mode}`, color: mode === "approximate" ? "#000000" : "#7f7f7f", kind: "line", markers: true, dashed: true,
      points: r.scales.flatMap((s) => {
        const m = s.cluster?.search.find((x) => x.mode === mode);
        return m ? [[s.size, m.latency.p50Ms] as const] : [];
      }),
    });
  }
  const xs = r.scales.map((s) => s.size);
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => y > 0);
  return {
    title: "Search latency p50 by gallery size (one query at a time)",
    subtitle: `${r.machine.cpus} cores, synthetic 512-d face templates, k = 10; hnswlib/LanceDB tuned to usearch's recall@10`,
    x: { label: "templates", min: Math.min(...xs) / 2, max: Math.max(...xs) * 2, log: true },
    y: { label: "p50 ms", min: 10 ** Math.floor(Math.log10(Math.min(...ys))), max: 10 ** Math.ceil(Math.log10(Math.max(...ys))), log: true },
    series: series.filter((s) => s.points.length > 0),
    legend: "top-left",
  };
}

/** Recall@10 against p50 at the largest scale: the tuning curves behind "matched recall". */
export function recallChart(r: BenchResult): Chart {
  const s = r.scales[r.scales.length - 1]!;
  const series: Series[] = [];
  Object.values(s.engines).forEach((e, i) => {
    const points = e.tuning.length > 0 ? e.tuning.map((t) => [t.p50Ms, t.recallAtK] as const) : [[e.latency.p50Ms, e.recallAt10] as const];
    series.push({ name: e.engine, color: COLORS[i % COLORS.length]!, kind: "line", markers: true, points });
  });
  for (const m of s.cluster?.search ?? []) {
    series.push({ name: `cluster ${m.mode}`, color: m.mode === "approximate" ? "#000000" : "#7f7f7f", kind: "line", markers: true, points: [[m.latency.p50Ms, m.recallAt10]] });
  }
  const xs = series.flatMap((x) => x.points.map((p) => p[0])).filter((x) => x > 0);
  const ys = series.flatMap((x) => x.points.map((p) => p[1]));
  return {
    title: `Recall@10 vs p50 latency at ${formatSize(s.size)} templates`,
    subtitle: "each point of a curve is one ef value; recall against exact f32 brute force",
    x: { label: "p50 ms", min: 10 ** Math.floor(Math.log10(Math.min(...xs))), max: 10 ** Math.ceil(Math.log10(Math.max(...xs))), log: true },
    y: { label: "recall@10", min: Math.max(0, Math.floor(Math.min(...ys) * 10) / 10), max: 1 },
    series,
    legend: "bottom-right",
  };
}

export async function writePng(chart: Chart, path: string): Promise<void> {
  await writeFile(path, await sharp(Buffer.from(renderSvg(chart))).png().toBuffer());
}
