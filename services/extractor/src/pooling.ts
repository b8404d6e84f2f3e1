/**
 * Generalised-mean pooling of one NCHW feature map (batch 1): per channel,
 * (mean over H x W of max(x, eps)^p)^(1/p). The trunks end in ReLU, so the clamp only keeps
 * exact zeros from turning the root into NaN-prone arithmetic.
 */
export function gemPool(features: Float32Array, dims: readonly number[], power: number): Float32Array {
  const [batch, channels = 0, height = 0, width = 0] = dims;
  const plane = height * width;
  if (dims.length !== 4 || batch !== 1 || plane === 0 || features.length !== channels * plane) {
    throw new Error(`GeM pooling needs a [1, C, H, W] feature map, the model gave [${dims.join(", ")}]`);
  }
  const out = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    const base = c * plane;
    for (let i = 0; i < plane; i++) sum += Math.max(features[base + i]!, 1e-6) ** power;
    out[c] = (sum / plane) ** (1 / power);
  }
  return out;
}
