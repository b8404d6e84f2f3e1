import { applyProjection, learnProjection, type LinearProjection } from "@taj/common";

export interface Labelled {
  identity: string;
  template: Float32Array;
}

export interface SeparationMetrics {
  /** Mean cosine of templates of different identities (how alike different tattoos look). */
  impostorMean: number;
  /** Fraction of probes whose own identity is the gallery's best match (exact cosine). */
  rank1: number;
  /** 1:1 over every pair: genuine pairs scoring at or above the threshold that lets this share of impostor pairs through. */
  tarAtFar: Record<string, number>;
  genuinePairs: number;
  impostorPairs: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function unit(v: Float32Array): Float32Array {
  const n = Math.sqrt(dot(v, v));
  return n === 0 ? v : Float32Array.from(v, (x) => x / n);
}

/** Rank-1 of probes against the gallery, and TAR at each FAR over all pairs of gallery + probes. */
export function separation(gallery: Labelled[], probes: Labelled[], fars: readonly number[]): SeparationMetrics {
  const g = gallery.map((s) => ({ identity: s.identity, v: unit(s.template) }));
  const p = probes.map((s) => ({ identity: s.identity, v: unit(s.template) }));
  let hits = 0;
  for (const q of p) {
    let best = -Infinity;
    let bestId = "";
    for (const c of g) {
      const s = dot(q.v, c.v);
      // A tie counts against the mate, as the eval's protocol does.
      if (s > best || (s === best && c.identity !== q.identity)) {
        best = s;
        bestId = c.identity;
      }
    }
    if (bestId === q.identity) hits++;
  }
  const all = [...g, ...p];
  const genuine: number[] = [];
  const impostor: number[] = [];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) (all[i]!.identity === all[j]!.identity ? genuine : impostor).push(dot(all[i]!.v, all[j]!.v));
  }
  impostor.sort((a, b) => b - a);
  const tarAtFar: Record<string, number> = {};
  for (const far of fars) {
    // The lowest threshold letting at most `far` of the impostor pairs through.
    const allowed = Math.floor(far * impostor.length);
    const threshold = allowed >= impostor.length ? -Infinity : impostor[allowed]!;
    tarAtFar[String(far)] = genuine.filter((s) => s > threshold).length / Math.max(1, genuine.length);
  }
  return {
    impostorMean: impostor.reduce((s, v) => s + v, 0) / Math.max(1, impostor.length),
    rank1: hits / Math.max(1, p.length),
    tarAtFar,
    genuinePairs: genuine.length,
    impostorPairs: impostor.length,
  };
}

export interface ProjectionRow {
  label: string;
  dimensions: number;
  metrics: SeparationMetrics;
}

/**
 * The same gallery and probes raw and through projections of each size, each learned (without
 * labels) on the gallery's templates only, as `tajctl projection learn` learns on enrolled ones.
 */
export function withAndWithout(gallery: Labelled[], probes: Labelled[], dimensions: readonly number[], fars: readonly number[]): ProjectionRow[] {
  const rows: ProjectionRow[] = [{ label: "raw", dimensions: gallery[0]!.template.length, metrics: separation(gallery, probes, fars) }];
  for (const k of dimensions) {
    const map: LinearProjection = learnProjection(gallery.map((s) => s.template), k);
    const project = (s: Labelled) => ({ identity: s.identity, template: applyProjection(map, s.template) });
    rows.push({ label: `centred + whitened`, dimensions: k, metrics: separation(gallery.map(project), probes.map(project), fars) });
  }
  return rows;
}
