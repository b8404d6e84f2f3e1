import type { RgbImage } from "./decode.ts";

export type Point = readonly [number, number];

/** Row-major 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a x + b y + tx, y' = c x + d y + ty. */
export type Affine = readonly [number, number, number, number, number, number];

export function applyAffine(m: Affine, [x, y]: Point): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (Math.abs(det) < 1e-12) throw new Error("singular transform");
  const ia = d / det, ib = -b / det, ic = -c / det, id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

/**
 * Least-squares similarity (rotation, uniform scale, translation; no reflection) taking `src`
 * onto `dst`. This is Umeyama's solution; in 2-D it has this closed form, with no SVD needed.
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine {
  if (src.length !== dst.length || src.length < 2) throw new Error("need at least two point pairs");
  const n = src.length;
  let sx = 0, sy = 0, dx = 0, dy = 0;
  for (let i = 0; i < n; i++) {
    const [px, py] = src[i]!;
    const [qx, qy] = dst[i]!;
    sx += px; sy += py; dx += qx; dy += qy;
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const ux = src[i]![0] - sx, uy = src[i]![1] - sy;
    const vx = dst[i]![0] - dx, vy = dst[i]![1] - dy;
    dot += ux * vx + uy * vy;
    cross += ux * vy - uy * vx;
    norm += ux * ux + uy * uy;
  }
  if (norm < 1e-12) throw new Error("degenerate source points");
  const a = dot / norm, b = cross / norm; // a = s cos(theta), b = s sin(theta)
  return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)];
}

/** The exact affine map of three source points onto three destination points. */
export function affineFromThreePoints(src: readonly Point[], dst: readonly Point[]): Affine {
  if (src.length !== 3 || dst.length !== 3) throw new Error("need exactly three point pairs");
  const [[x0, y0], [x1, y1], [x2, y2]] = src as [Point, Point, Point];
  const det = x0 * (y1 - y2) - x1 * (y0 - y2) + x2 * (y0 - y1);
  if (Math.abs(det) < 1e-9) throw new Error("collinear source points");
  const solve = (v0: number, v1: number, v2: number): [number, number, number] => [
    (v0 * (y1 - y2) - v1 * (y0 - y2) + v2 * (y0 - y1)) / det,
    (x0 * (v1 - v2) - x1 * (v0 - v2) + x2 * (v0 - v1)) / det,
    (x0 * (y1 * v2 - y2 * v1) - x1 * (y0 * v2 - y2 * v0) + x2 * (y0 * v1 - y1 * v0)) / det,
  ];
  const [a, b, tx] = solve(dst[0]![0], dst[1]![0], dst[2]![0]);
  const [c, d, ty] = solve(dst[0]![1], dst[1]![1], dst[2]![1]);
  return [a, b, tx, c, d, ty];
}

/**
 * Samples `image` through `toCrop` (image -> crop coordinates) into a width x height RGB crop.
 * Bilinear, with black outside the image like OpenCV's warpAffine. When the crop shrinks the
 * image by more than 2x, each output pixel averages a grid of samples so detail does not alias.
 */
export function warpAffine(image: RgbImage, toCrop: Affine, width: number, height: number): Uint8Array {
  const inv = invertAffine(toCrop);
  const shrink = Math.sqrt(Math.abs(inv[0] * inv[4] - inv[1] * inv[3]));
  const grid = Math.min(4, Math.max(1, Math.floor(shrink / 2) + (shrink >= 2 ? 1 : 0)));
  const out = new Uint8Array(width * height * 3);
  const acc = [0, 0, 0];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      acc[0] = acc[1] = acc[2] = 0;
      for (let gy = 0; gy < grid; gy++) {
        for (let gx = 0; gx < grid; gx++) {
          // Pixel centres: output pixel (x, y) covers [x, x+1); sample at sub-cell centres.
          const ox = x + (gx + 0.5) / grid - 0.5;
          const oy = y + (gy + 0.5) / grid - 0.5;
          sampleBilinear(image, inv[0] * ox + inv[1] * oy + inv[2], inv[3] * ox + inv[4] * oy + inv[5], acc);
        }
      }
      const o = (y * width + x) * 3;
      const n = grid * grid;
      out[o] = Math.round(acc[0]! / n);
      out[o + 1] = Math.round(acc[1]! / n);
      out[o + 2] = Math.round(acc[2]! / n);
    }
  }
  return out;
}

function sampleBilinear(image: RgbImage, sx: number, sy: number, acc: number[]): void {
  const { width, height, data } = image;
  const x0 = Math.floor(sx), y0 = Math.floor(sy);
  const fx = sx - x0, fy = sy - y0;
  for (let c = 0; c < 3; c++) {
    const p00 = pixel(data, width, height, x0, y0, c);
    const p10 = pixel(data, width, height, x0 + 1, y0, c);
    const p01 = pixel(data, width, height, x0, y0 + 1, c);
    const p11 = pixel(data, width, height, x0 + 1, y0 + 1, c);
    acc[c]! += (p00 * (1 - fx) + p10 * fx) * (1 - fy) + (p01 * (1 - fx) + p11 * fx) * fy;
  }
}

function pixel(data: Uint8Array, width: number, height: number, x: number, y: number, c: number): number {
  if (x < 0 || y < 0 || x >= width || y >= height) return 0;
  return data[(y * width + x) * 3 + c]!;
}
