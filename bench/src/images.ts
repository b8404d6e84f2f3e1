import { ErrorCode, MatchingService, Modality, type Box } from "@taj/proto";
import { AppError, createClient } from "@taj/common";
import { type LocalCluster } from "@taj/devcluster";
import type { RealFace } from "./real-faces.ts";
import { latency, round, type Latency } from "./stats.ts";

export interface ExtractionResult {
  images: number;
  threads: 1;
  stages: Record<"decode" | "detect" | "landmarks" | "embed" | "total", Latency>;
  imagesPerSecondPerCore: number;
}

/** Per-stage extraction times of the sample images (in process, one onnxruntime thread, one at a time). */
export function extractionStats(faces: readonly RealFace[]): ExtractionResult {
  const total = latency(faces.map((f) => f.totalMs));
  return {
    images: faces.length,
    threads: 1,
    stages: {
      decode: latency(faces.map((f) => f.timings.decodeMs)),
      detect: latency(faces.map((f) => f.timings.detectMs)),
      landmarks: latency(faces.map((f) => f.timings.landmarksMs)),
      embed: latency(faces.map((f) => f.timings.embedMs)),
      total,
    },
    imagesPerSecondPerCore: round(1000 / total.meanMs),
  };
}

export interface GatewayImageResult {
  galleryDistractors: number;
  enrolled: number;
  enrollLatency: Latency;
  searches: number;
  /** Image -> candidates through the gateway (extraction, coordinator, shards). */
  searchLatency: Latency;
  /** Searches whose image held several faces, answered MULTIPLE_FACES and were sent again with a box. */
  searchesNeedingABox: number;
  rank1: number;
  cpuSecondsPerImageSearch: number;
  cpuByProcess: Record<string, number>;
}

const area = (b: Box) => b.widthPx * b.heightPx;

/**
 * Real faces against the synthetic gallery: each person's first portrait enrolled through the
 * gateway's Enroll, then every other image of the set searched through its Search (the largest
 * face when an image holds several). Rank-1 here is among the synthetic distractors too.
 */
export async function gatewayImages(
  cluster: LocalCluster, faces: readonly RealFace[], galleryDistractors: number, cpu: (names: string[]) => Record<string, number>,
): Promise<GatewayImageResult> {
  const client = createClient(MatchingService, cluster.addresses.gateway, cluster.credentials("client"));
  try {
    const gallery = new Map<string, RealFace>();
    for (const f of faces) if (f.file.includes("-0-portrait") && !gallery.has(f.identity)) gallery.set(f.identity, f);
    const idFor = (identity: string) => `real-${identity}`;
    const call = async <T>(send: (box?: Box) => Promise<T>): Promise<{ value: T; boxed: boolean }> => {
      try {
        return { value: await send(), boxed: false };
      } catch (err) {
        const e = AppError.from(err);
        if (e.code !== ErrorCode.MULTIPLE_FACES || e.faces.length === 0) throw e;
        return { value: await send(e.faces.reduce((a, b) => (area(b) >= area(a) ? b : a))), boxed: true };
      }
    };
    const enrollMs: number[] = [];
    for (const [identity, f] of gallery) {
      const t = performance.now();
      await call((box) => client.enroll({ modality: Modality.FACE, id: idFor(identity), image: f.bytes, ...(box ? { faceBox: box } : {}) }, { timeoutMs: 30_000 }));
      enrollMs.push(performance.now() - t);
    }
    // Let the last enrolment reach the shards before searching for it.
    await new Promise((r) => setTimeout(r, 1_000));

    const probes = faces.filter((f) => gallery.get(f.identity) !== f);
    const names = Object.keys(cluster.processes).filter((n) => /^(gateway|extractor-|coordinator-|shard-)/.test(n));
    const before = cpu(names);
    const searchMs: number[] = [];
    let hits = 0, boxed = 0;
    for (const f of probes) {
      const t = performance.now();
      const r = await call((box) =>
        client.search({ modality: Modality.FACE, image: f.bytes, caseRef: "BENCH", similarityThreshold: -1, maxCandidates: 10, ...(box ? { faceBox: box } : {}) }, { timeoutMs: 30_000 }),
      );
      searchMs.push(performance.now() - t);
      if (r.boxed) boxed++;
      if (r.value.candidates[0]?.id === idFor(f.identity)) hits++;
    }
    const after = cpu(names);
    const used = Object.fromEntries(names.map((n) => [n, round(after[n]! - before[n]!)]));
    return {
      galleryDistractors,
      enrolled: gallery.size,
      enrollLatency: latency(enrollMs),
      searches: probes.length,
      searchLatency: latency(searchMs),
      searchesNeedingABox: boxed,
      rank1: round(hits / Math.max(1, probes.length), 4),
      cpuSecondsPerImageSearch: round(Object.values(used).reduce((a, b) => a + b, 0) / Math.max(1, probes.length)),
      cpuByProcess: used,
    };
  } finally {
    client.close();
  }
}
