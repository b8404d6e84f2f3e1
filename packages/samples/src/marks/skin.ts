import { between, intBetween, type Rng } from "./rng.ts";

/** From light to dark: a rendering's base tone is a point along this line. */
const TONES: readonly (readonly [number, number, number])[] = [
  [244, 208, 184],
  [224, 172, 138],
  [190, 132, 98],
  [141, 90, 62],
  [92, 58, 40],
];

function tone(t: number): [number, number, number] {
  const x = Math.min(0.9999, Math.max(0, t)) * (TONES.length - 1);
  const i = Math.floor(x), w = x - i;
  const a = TONES[i]!, b = TONES[i + 1]!;
  return [a[0] + (b[0] - a[0]) * w, a[1] + (b[1] - a[1]) * w, a[2] + (b[2] - a[2]) * w];
}

/** Smooth random field in about [-1, 1]: bilinear over a coarse grid of random values. */
function lowFrequency(rng: Rng, width: number, height: number, cells: number): Float32Array {
  const g = cells + 1;
  const grid = Float32Array.from({ length: g * g }, () => rng() * 2 - 1);
  const out = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    const gy = (y / height) * cells, y0 = Math.floor(gy), wy = gy - y0;
    for (let x = 0; x < width; x++) {
      const gx = (x / width) * cells, x0 = Math.floor(gx), wx = gx - x0;
      const i = y0 * g + x0;
      const top = grid[i]! * (1 - wx) + grid[i + 1]! * wx;
      const bottom = grid[i + g]! * (1 - wx) + grid[i + g + 1]! * wx;
      out[y * width + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/** Raw RGB skin: a base tone with soft shading, fine noise and scattered pores. */
export function skinTexture(rng: Rng, width: number, height: number, skinTone?: number): Buffer {
  // Drawn even when given, so a given tone changes nothing else of the rendering.
  const drawn = rng();
  const [r, g, b] = tone(skinTone ?? drawn);
  const shade = lowFrequency(rng, width, height, 3);
  const blotch = lowFrequency(rng, width, height, 9);
  const out = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const k = 1 + 0.07 * shade[p]! + 0.025 * blotch[p]! + (rng() - 0.5) * 0.05;
    // Blotches redden a little, as skin does, rather than only darkening.
    const red = 1 + 0.02 * blotch[p]!;
    out[p * 3] = clamp(r * k * red);
    out[p * 3 + 1] = clamp(g * k);
    out[p * 3 + 2] = clamp(b * k);
  }
  const pores = Math.round((width * height) / between(rng, 120, 260));
  for (let n = 0; n < pores; n++) {
    const x = intBetween(rng, 0, width - 1), y = intBetween(rng, 0, height - 1);
    const depth = between(rng, 0.82, 0.93);
    for (const [dx, dy, w] of [[0, 0, 1], [1, 0, 0.5], [0, 1, 0.5], [-1, 0, 0.5], [0, -1, 0.5]] as const) {
      const px = x + dx, py = y + dy;
      if (px < 0 || py < 0 || px >= width || py >= height) continue;
      const i = (py * width + px) * 3;
      const m = 1 - (1 - depth) * w;
      out[i] = clamp(out[i]! * m);
      out[i + 1] = clamp(out[i + 1]! * m);
      out[i + 2] = clamp(out[i + 2]! * m);
    }
  }
  return out;
}

export const clamp = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
