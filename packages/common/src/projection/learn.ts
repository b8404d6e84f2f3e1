import { EigenvalueDecomposition, Matrix } from "ml-matrix";

/** A learned linear map: y = matrix · (x/|x| − mean), then y/|y|. */
export interface LinearProjection {
  inputDimensions: number;
  outputDimensions: number;
  /** inputDimensions values. */
  mean: Float32Array;
  /** outputDimensions × inputDimensions, row-major. */
  matrix: Float32Array;
}

export interface LearnOptions {
  /**
   * Added to every eigenvalue before whitening, as a fraction of the mean eigenvalue: keeps the
   * weakest kept directions (mostly noise in a finite sample) from being blown up.
   */
  regularization?: number;
}

export interface LearnedProjection extends LinearProjection {
  /** The covariance's eigenvalues of the kept directions, largest first. */
  eigenvalues: Float64Array;
  /** Share of the sample's variance the kept directions hold. */
  varianceKept: number;
}

export const DEFAULT_REGULARIZATION = 0.01;

/**
 * The matrix is scaled so its largest entry is this: the output is L2-normalised, so a global
 * scale changes nothing, and this keeps every entry well inside half precision's normal range
 * (whitening by 1/sqrt(λ) of unit vectors' tiny eigenvalues would otherwise reach thousands).
 */
const MATRIX_PEAK = 256;

/** Samples as unit vectors: the index compares by cosine, so the map is learned on what it compares. */
function normalised(v: ArrayLike<number>): Float64Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm);
  const out = new Float64Array(v.length);
  if (norm === 0) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i]! / norm;
  return out;
}

/**
 * Centring then PCA whitening, learned without labels: the sample mean is removed (the direction
 * every template of a modality shares, which makes different tattoos look alike), and the top
 * `outputDimensions` principal directions are each rescaled to unit variance, so no few dominant
 * directions decide the cosine. Needs more samples than output dimensions.
 */
export function learnProjection(samples: readonly ArrayLike<number>[], outputDimensions: number, options: LearnOptions = {}): LearnedProjection {
  const first = samples[0];
  if (!first) throw new RangeError("no samples to learn from");
  const d = first.length;
  const n = samples.length;
  if (!Number.isInteger(outputDimensions) || outputDimensions < 1 || outputDimensions > d) {
    throw new RangeError(`output dimensions must be between 1 and the input's ${d}`);
  }
  if (n <= outputDimensions) throw new RangeError(`${n} samples cannot whiten ${outputDimensions} dimensions: give more samples than dimensions`);
  const regularization = options.regularization ?? DEFAULT_REGULARIZATION;
  if (!(regularization >= 0)) throw new RangeError("regularization must be at least 0");

  const mean = new Float64Array(d);
  const rows: Float64Array[] = [];
  for (const s of samples) {
    if (s.length !== d) throw new RangeError(`every sample must have ${d} values`);
    const x = normalised(s);
    rows.push(x);
    for (let i = 0; i < d; i++) mean[i]! += x[i]!;
  }
  for (let i = 0; i < d; i++) mean[i] = mean[i]! / n;

  // Upper triangle of the scatter matrix, then mirrored: half the work of a full product.
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (const x of rows) {
    for (let i = 0; i < d; i++) centred[i] = x[i]! - mean[i]!;
    for (let i = 0; i < d; i++) {
      const ci = centred[i]!;
      if (ci === 0) continue;
      const row = i * d;
      for (let j = i; j < d; j++) cov[row + j]! += ci * centred[j]!;
    }
  }
  const covariance = new Matrix(d, d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const c = cov[i * d + j]! / (n - 1);
      covariance.set(i, j, c);
      covariance.set(j, i, c);
    }
  }

  const evd = new EigenvalueDecomposition(covariance, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const order = values.map((_, i) => i).sort((a, b) => values[b]! - values[a]!);
  const total = values.reduce((s, v) => s + Math.max(v, 0), 0);
  const epsilon = regularization * (total / d);

  const kept = order.slice(0, outputDimensions);
  const eigenvalues = Float64Array.from(kept, (k) => Math.max(values[k]!, 0));
  const matrix = new Float64Array(outputDimensions * d);
  let peak = 0;
  kept.forEach((k, r) => {
    const scale = 1 / Math.sqrt(eigenvalues[r]! + epsilon);
    for (let i = 0; i < d; i++) {
      const w = vectors.get(i, k) * scale;
      matrix[r * d + i] = w;
      peak = Math.max(peak, Math.abs(w));
    }
  });
  if (!(peak > 0) || !Number.isFinite(peak)) throw new RangeError("the sample has no variance to whiten (all templates alike?)");
  const rescale = MATRIX_PEAK / peak;
  return {
    inputDimensions: d,
    outputDimensions,
    mean: Float32Array.from(mean),
    matrix: Float32Array.from(matrix, (w) => w * rescale),
    eigenvalues,
    varianceKept: total > 0 ? eigenvalues.reduce((s, v) => s + v, 0) / total : 0,
  };
}
