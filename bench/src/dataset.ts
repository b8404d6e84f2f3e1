import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { decodeF16, encodeF16 } from "@taj/common";
import { DEFAULT_LAYOUT, TemplateGenerator, type Layout } from "./generator.ts";

export interface DatasetSpec {
  seed: number;
  size: number;
  probes: number;
  layout?: Omit<Layout, "size">;
  /**
   * The whole gallery as raw half-precision rows, written once per scale: engines and the cluster
   * feed read it instead of generating again. Half precision is what the template log carries
   * (so every engine sees exactly the cluster's values), and it halves the file: 9 GB at 9 M.
   */
  galleryFile?: string;
}

/** Above this many templates the gallery is regenerated chunk by chunk instead of held as f32. */
export const IN_MEMORY_LIMIT = 2_000_000;
export const CHUNK = 50_000;

const galleryFiles = new WeakMap<TemplateGenerator, string>();

export function generatorFor(spec: DatasetSpec): TemplateGenerator {
  const gen = new TemplateGenerator(spec.seed, { ...(spec.layout ?? DEFAULT_LAYOUT), size: spec.size });
  if (spec.galleryFile !== undefined) galleryFiles.set(gen, spec.galleryFile);
  return gen;
}

/** Bytes per value in the gallery file (little-endian half precision). */
export const GALLERY_FILE_BYTES_PER_VALUE = 2;

/** Writes the whole gallery as raw little-endian f16 rows (1 GB per million 512-d templates). */
export function writeGalleryFile(gen: TemplateGenerator, path: string): void {
  const fd = openSync(path, "w");
  try {
    for (let from = 0; from < gen.size; from += CHUNK) writeSync(fd, encodeF16(galleryChunk(gen, from, Math.min(gen.size, from + CHUNK))));
  } finally {
    closeSync(fd);
  }
}

/** Gallery templates [from, to) as one f32 matrix, row i - from = template i. */
export function galleryChunk(gen: TemplateGenerator, from: number, to: number): Float32Array {
  const out = new Float32Array((to - from) * gen.dim);
  for (let i = from; i < to; i++) gen.template(i, out.subarray((i - from) * gen.dim, (i - from + 1) * gen.dim));
  return out;
}

/** Visits the gallery in chunks (each made once per call: keep them if you need them twice). */
export function* galleryChunks(gen: TemplateGenerator, chunk = CHUNK): Generator<{ from: number; vectors: Float32Array }> {
  const file = galleryFiles.get(gen);
  if (file === undefined) {
    for (let from = 0; from < gen.size; from += chunk) yield { from, vectors: galleryChunk(gen, from, Math.min(gen.size, from + chunk)) };
    return;
  }
  const fd = openSync(file, "r");
  try {
    for (let from = 0; from < gen.size; from += chunk) {
      const bytes = new Uint8Array((Math.min(gen.size, from + chunk) - from) * gen.dim * GALLERY_FILE_BYTES_PER_VALUE);
      let read = 0;
      while (read < bytes.length) {
        const n = readSync(fd, bytes, read, bytes.length - read, from * gen.dim * GALLERY_FILE_BYTES_PER_VALUE + read);
        if (n === 0) throw new Error(`${file} is shorter than the gallery`);
        read += n;
      }
      yield { from, vectors: decodeF16(bytes) };
    }
  } finally {
    closeSync(fd);
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
