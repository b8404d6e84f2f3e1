import { DEFAULT_LAYOUT, TemplateGenerator, type Layout } from "./generator.ts";

export interface DatasetSpec {
  seed: number;
  size: number;
  probes: number;
  layout?: Omit<Layout, "size">;
}

/** Above this many templates the gallery is regenerated chunk by chunk instead of held as f32. */
export const IN_MEMORY_LIMIT = 2_000_000;
export const CHUNK = 50_000;

export function generatorFor(spec: DatasetSpec): TemplateGenerator {
  return new TemplateGenerator(spec.seed, { ...(spec.layout ?? DEFAULT_LAYOUT), size: spec.size });
}

/** Gallery templates [from, to) as one f32 matrix, row i - from = template i. */
export function galleryChunk(gen: TemplateGenerator, from: number, to: number): Float32Array {
  const out = new Float32Array((to - from) * gen.dim);
  for (let i = from; i < to; i++) gen.template(i, out.subarray((i - from) * gen.dim, (i - from + 1) * gen.dim));
  return out;
}

/** Visits the gallery in chunks (each made once per call: keep them if you need them twice). */
export function* galleryChunks(gen: TemplateGenerator, chunk = CHUNK): Generator<{ from: number; vectors: Float32Array }> {
  for (let from = 0; from < gen.size; from += chunk) {
    yield { from, vectors: galleryChunk(gen, from, Math.min(gen.size, from + chunk)) };
  }
}

export function probeMatrix(gen: TemplateGenerator, count: number): { vectors: Float32Array; mated: boolean[] } {
  const vectors = new Float32Array(count * gen.dim);
  const mated: boolean[] = [];
  for (let q = 0; q < count; q++) mated.push(gen.probe(q, vectors.subarray(q * gen.dim, (q + 1) * gen.dim)).mated);
  return { vectors, mated };
}

export function row(m: Float32Array, i: number, dim: number): Float32Array {
  return m.subarray(i * dim, (i + 1) * dim);
}
