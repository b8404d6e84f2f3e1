/** Percentile by nearest rank of an unsorted sample (p in [0, 100]). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Latency {
  n: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export function latency(ms: readonly number[]): Latency {
  return {
    n: ms.length,
    p50Ms: round(percentile(ms, 50)),
    p99Ms: round(percentile(ms, 99)),
    meanMs: round(ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length)),
  };
}

export function round(x: number, digits = 3): number {
  return Number.isFinite(x) ? Number(x.toPrecision(digits + 2)) : x;
}

/** Mean over probes of |approx top-k ∩ exact top-k| / k. */
export function recallAt(k: number, approx: readonly (readonly number[])[], exact: readonly (readonly number[])[]): number {
  let sum = 0;
  for (let q = 0; q < exact.length; q++) {
    const truth = new Set(exact[q]!.slice(0, k));
    const got = (approx[q] ?? []).slice(0, k);
    sum += got.filter((x) => truth.has(x)).length / Math.max(1, Math.min(k, truth.size));
  }
  return sum / Math.max(1, exact.length);
}

export function rssBytes(): number {
  return process.memoryUsage().rss;
}
