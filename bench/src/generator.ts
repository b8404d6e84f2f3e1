import { Rng } from "./prng.ts";

/**
 * Synthetic face templates with the structure of the real model's (see README "Generator").
 *
 * A "face-like" unit vector is normalize(mu * m + sum_k s * g_k * B_k + iso * g / sqrt(D)): a mean
 * direction m shared by every face, a low-rank subspace B (rank `rank`) where faces differ most,
 * and isotropic rest. Real embeddings are neither centred nor isotropic: two strangers score
 * ~0.06 on average with sd ~0.1, far wider than random 512-d vectors (sd 0.044).
 * An identity has a centre c (face-like); each photo of it is normalize(a * c + sqrt(1 - a^2) * n)
 * with n another face-like vector and a^2 drawn per photo around `genuine` (so two photos of the
 * same person score ~a1 * a2). Everything is a pure function of (seed, index): any template can be
 * made again without storing the set, so scales beyond RAM can stream.
 */
export interface GeneratorParams {
  dim: number;
  /** Rank of the shared subspace. */
  rank: number;
  /** Weight of the shared mean direction. */
  mu: number;
  /** Per-direction weight in the shared subspace. */
  s: number;
  /** Weight of the isotropic part. */
  iso: number;
  /** Mean of a^2 per photo: the target cross-photo genuine similarity before the shared terms. */
  genuine: number;
  /** Spread (sd) of a^2 per photo. */
  genuineSd: number;
}

/** Tuned so the generator's statistics match calibration.json (measured on the sample photos). */
export const DEFAULT_PARAMS: GeneratorParams = {
  dim: 512,
  rank: 32,
  mu: 0.168,
  s: 0.142,
  iso: 0.57,
  genuine: 0.59,
  genuineSd: 0.03,
};

export interface Layout {
  /** Templates in the gallery. */
  size: number;
  /** Enrolled photos per mated identity. */
  photosPerIdentity: number;
  /** Share of the gallery made of mated identities' photos; the rest are distractors (1 photo each). */
  matedShare: number;
  /** Share of probes that are mated (a new photo of a gallery identity); the rest are strangers. */
  matedProbeShare: number;
}

export const DEFAULT_LAYOUT: Omit<Layout, "size"> = { photosPerIdentity: 3, matedShare: 0.3, matedProbeShare: 0.8 };

export class TemplateGenerator {
  readonly dim: number;
  private readonly mean: Float32Array;
  private readonly basis: Float32Array[];
  private readonly identitiesMated: number;
  private readonly matedTemplates: number;
  private readonly scratch: Float32Array;
  private readonly coeffs: Float64Array;

  constructor(readonly seed: number, readonly layout: Layout, readonly params: GeneratorParams = DEFAULT_PARAMS) {
    this.dim = params.dim;
    const rng = new Rng(seed ^ 0x5eed);
    this.mean = randomUnit(rng, params.dim);
    this.basis = orthonormal(rng, params.rank, params.dim, [this.mean]);
    this.identitiesMated = Math.floor((layout.size * layout.matedShare) / layout.photosPerIdentity);
    this.matedTemplates = this.identitiesMated * layout.photosPerIdentity;
    this.scratch = new Float32Array(params.dim);
    this.coeffs = new Float64Array(params.rank);
  }

  get size(): number {
    return this.layout.size;
  }

  get matedIdentities(): number {
    return this.identitiesMated;
  }

  /** Identity and photo number of gallery template i. */
  identityOf(i: number): { identity: number; photo: number } {
    if (i < this.matedTemplates) return { identity: Math.floor(i / this.layout.photosPerIdentity), photo: i % this.layout.photosPerIdentity };
    return { identity: this.identitiesMated + (i - this.matedTemplates), photo: 0 };
  }

  /** Gallery template i into out (unit length). */
  template(i: number, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    const { identity, photo } = this.identityOf(i);
    return this.photo(identity, photo, out);
  }

  /** Probe q: a photo never enrolled, of a mated identity or of a stranger. */
  probe(q: number, out: Float32Array = new Float32Array(this.dim)): { vector: Float32Array; identity: number; mated: boolean } {
    const mated = this.identitiesMated > 0 && hashUnit(this.seed, 0x9b0be, q) < this.layout.matedProbeShare;
    if (mated) {
      const identity = q % this.identitiesMated;
      return { vector: this.photo(identity, this.layout.photosPerIdentity + 1 + q, out), identity, mated };
    }
    // Strangers: identities numbered past every gallery identity.
    const identity = this.layout.size + q;
    return { vector: this.photo(identity, 0, out), identity, mated };
  }

  /** Photo p of identity id. */
  photo(identity: number, photo: number, out: Float32Array = new Float32Array(this.dim)): Float32Array {
    const centre = this.faceLike(new Rng(mix(this.seed, identity, 0xc3)), out);
    const rng = new Rng(mix(this.seed, identity, 0x1000 + photo));
    const g = rng.gauss() * this.params.genuineSd + this.params.genuine;
    const a2 = Math.min(0.98, Math.max(0.05, g));
    const a = Math.sqrt(a2), b = Math.sqrt(1 - a2);
    const noise = this.faceLike(rng, this.scratch);
    for (let d = 0; d < this.dim; d++) out[d] = a * centre[d]! + b * noise[d]!;
    return normalize(out);
  }

  private faceLike(rng: Rng, out: Float32Array): Float32Array {
    const { mu, s, iso, dim, rank } = this.params;
    const isoScale = iso / Math.sqrt(dim);
    for (let d = 0; d < dim; d++) out[d] = mu * this.mean[d]! + isoScale * rng.gauss();
    for (let k = 0; k < rank; k++) this.coeffs[k] = s * rng.gauss();
    for (let k = 0; k < rank; k++) {
      const c = this.coeffs[k]!, bk = this.basis[k]!;
      for (let d = 0; d < dim; d++) out[d] = out[d]! + c * bk[d]!;
    }
    return normalize(out);
  }
}

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  const inv = 1 / Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return v;
}

function randomUnit(rng: Rng, dim: number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = rng.gauss();
  return normalize(v);
}

/** `count` random orthonormal vectors, also orthogonal to `against`. */
function orthonormal(rng: Rng, count: number, dim: number, against: Float32Array[]): Float32Array[] {
  const out: Float32Array[] = [];
  while (out.length < count) {
    const v = randomUnit(rng, dim);
    for (const u of [...against, ...out]) {
      const p = dot(v, u);
      for (let i = 0; i < dim; i++) v[i]! -= p * u[i]!;
    }
    out.push(normalize(v));
  }
  return out;
}

function mix(seed: number, a: number, b: number): number {
  let h = (seed ^ 0x811c9dc5) >>> 0;
  for (const x of [a, b, Math.floor(a / 4294967296)]) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  }
  return h >>> 0;
}

function hashUnit(seed: number, a: number, b: number): number {
  return mix(seed, a, b) / 4294967296;
}

/** Similarity statistics of a generator: genuine (two photos of one identity) and impostor pairs. */
export function generatorStats(gen: TemplateGenerator, pairs: number): { genuine: Moments; impostor: Moments } {
  const x = new Float32Array(gen.dim), y = new Float32Array(gen.dim);
  const genuine: number[] = [], impostor: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const id = 1_000_000_000 + i;
    genuine.push(dot(gen.photo(id, 0, x), gen.photo(id, 1, y)));
    impostor.push(dot(gen.photo(id, 0, x), gen.photo(id + 500_000_000, 0, y)));
  }
  return { genuine: moments(genuine), impostor: moments(impostor) };
}

export interface Moments {
  n: number;
  mean: number;
  sd: number;
}

export function moments(xs: readonly number[]): Moments {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  return { n, mean, sd };
}
