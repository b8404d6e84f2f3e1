import { seededRng } from "@taj/common";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A seeded PRNG so failures replay exactly. */
export const prng = seededRng;

/** A random unit vector (Gaussian by Box-Muller, then normalised). */
export function unitVector(rand: () => number, dims = 512): Float32Array {
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    const g = Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
    v[i] = g;
    norm += g * g;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < dims; i++) v[i] = v[i]! / norm;
  return v;
}

/** The vector moved slightly: what a second photo of the same face looks like to the index. */
export function perturb(rand: () => number, v: Float32Array, amount = 0.3): Float32Array {
  const noise = unitVector(rand, v.length);
  const out = new Float32Array(v.length);
  let norm = 0;
  for (let i = 0; i < v.length; i++) {
    out[i] = v[i]! + amount * noise[i]!;
    norm += out[i]! * out[i]!;
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < v.length; i++) out[i] = out[i]! / norm;
  return out;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
