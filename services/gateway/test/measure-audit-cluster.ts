/**
 * The audit trail in the real local cluster (not a test; run by hand, it starts the whole cluster
 * with the real models): node --import tsx services/gateway/test/measure-audit-cluster.ts [searches]
 *
 * Enrolls the sample faces, runs face searches through gateway-a, then reports the client-side
 * search latency, the gateway's own audit-append histogram (taj_gateway_audit_append_duration_seconds,
 * bucket bounds, so p50/p99 are "at most" figures) and `tajctl audit verify` on the cluster's stream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@taj/common";
import { MatchingService, Modality } from "@taj/proto";
import { startLocalCluster, withCallMetadata } from "@taj/devcluster";
import { enrollAllFaces, loadSamplePhotos } from "@taj/samples";
import { verifyStream, renderVerify } from "@taj/tajctl";

const N = Number(process.argv[2] ?? 200);
const dir = mkdtempSync(join(tmpdir(), "taj-audit-cluster-"));
const cluster = await startLocalCluster({ dir, basePort: 23400, shardsPerSite: 1, partitionCount: 8, extractors: 1 });
try {
  const caller = await cluster.issuer.metadata({ sub: "audit-measure", roles: ["search", "enroll", "admin", "audit"] });
  const gateway = withCallMetadata(createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("bearer")), caller);
  const photos = await loadSamplePhotos();
  const faces = (await enrollAllFaces(gateway, photos[0]!, (i) => `AUD${i}`)).enrolled;
  if (faces.length === 0) throw new Error("no face enrolled");
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const face = faces[i % faces.length]!;
    const t0 = performance.now();
    await gateway.search({ modality: Modality.FACE, image: face.bytes, faceBox: face.box, caseRef: "MEASURE-1" }, { timeoutMs: 30_000 });
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => +ms[Math.min(ms.length - 1, Math.ceil((p / 100) * ms.length) - 1)]!.toFixed(2);
  const metrics = await (await fetch(`http://127.0.0.1:${cluster.ports.gateways.a!.metrics}/metrics`)).text();
  const buckets = [...metrics.matchAll(/^taj_gateway_audit_append_duration_seconds_bucket\{[^}]*le="([^"]+)"[^}]*outcome="stored"[^}]*\} (\d+)$|^taj_gateway_audit_append_duration_seconds_bucket\{[^}]*outcome="stored"[^}]*le="([^"]+)"[^}]*\} (\d+)$/gm)]
    .map((m) => ({ le: m[1] ?? m[3]!, n: Number(m[2] ?? m[4]) }));
  const total = buckets.find((b) => b.le === "+Inf")?.n ?? 0;
  const bound = (p: number) => buckets.find((b) => b.n >= (p / 100) * total)?.le;
  const sum = Number(/^taj_gateway_audit_append_duration_seconds_sum\{[^}]*outcome="stored"[^}]*\} ([\d.e+-]+)$/m.exec(metrics)?.[1]);
  process.stdout.write(`${JSON.stringify({
    searches: N, enrolled: faces.length,
    searchMs: { p50: at(50), p90: at(90), p99: at(99), max: at(100) },
    gatewayAppends: { count: total, meanMs: +((sum / total) * 1000).toFixed(3), p50AtMostS: bound(50), p99AtMostS: bound(99) },
  }, null, 2)}\n`);
  const report = await verifyStream(cluster.addresses.natsUrls, cluster.pki.admin);
  process.stdout.write(`${renderVerify(report)}\n`);
  gateway.close();
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
