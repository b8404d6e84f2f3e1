export type Point = readonly [number, number];

/** 3 x 3 homography, row-major, with h[8] = 1. */
export type Homography = Float64Array;

/** The homography taking each `from[i]` to `to[i]` (four points, no three in a line). */
export function homography(from: readonly Point[], to: readonly Point[]): Homography {
  // Eight equations in the eight unknowns h0..h7, solved by Gaussian elimination with pivoting.
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!, [u, v] = to[i]!;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let c = 0; c < 8; c++) {
    let best = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(a[r]![c]!) > Math.abs(a[best]![c]!)) best = r;
    if (Math.abs(a[best]![c]!) < 1e-12) throw new Error("degenerate quadrilateral");
    [a[c], a[best]] = [a[best]!, a[c]!];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const k = a[r]![c]! / a[c]![c]!;
      for (let j = c; j < 9; j++) a[r]![j]! -= k * a[c]![j]!;
    }
  }
  const h = new Float64Array(9);
  for (let i = 0; i < 8; i++) h[i] = a[i]![8]! / a[i]![i]!;
  h[8] = 1;
  return h;
}

export function apply(h: Homography, x: number, y: number): Point {
  const w = h[6]! * x + h[7]! * y + h[8]!;
  return [(h[0]! * x + h[1]! * y + h[2]!) / w, (h[3]! * x + h[4]! * y + h[5]!) / w];
}

/**
 * Composites a raw RGBA `src` onto raw RGB `dst` in place, where `toSrc` maps destination pixel
 * centres to source coordinates; bilinear sampling, source alpha scaled by `opacity`;
 * `multiply` darkens the destination by the source colour instead of covering it.
 */
export function compositeWarped(
  dst: Buffer, width: number, height: number,
  src: Buffer, srcWidth: number, srcHeight: number,
  toSrc: Homography, opacity: number, multiply: boolean,
  region: { x0: number; y0: number; x1: number; y1: number },
): void {
  for (let y = region.y0; y < region.y1; y++) {
    for (let x = region.x0; x < region.x1; x++) {
      const [sx, sy] = apply(toSrc, x + 0.5, y + 0.5);
      const fx = sx - 0.5, fy = sy - 0.5;
      const x0 = Math.floor(fx), y0 = Math.floor(fy);
      if (x0 < -1 || y0 < -1 || x0 >= srcWidth || y0 >= srcHeight) continue;
      const wx = fx - x0, wy = fy - y0;
      let r = 0, g = 0, b = 0, alpha = 0;
      for (const [dx, dy, w] of [[0, 0, (1 - wx) * (1 - wy)], [1, 0, wx * (1 - wy)], [0, 1, (1 - wx) * wy], [1, 1, wx * wy]] as const) {
        const px = x0 + dx, py = y0 + dy;
        if (px < 0 || py < 0 || px >= srcWidth || py >= srcHeight || w === 0) continue;
        const i = (py * srcWidth + px) * 4;
        const aw = (src[i + 3]! / 255) * w;
        r += src[i]! * aw; g += src[i + 1]! * aw; b += src[i + 2]! * aw; alpha += aw;
      }
      if (alpha <= 0) continue;
      const a = alpha * opacity;
      const o = (y * width + x) * 3;
      // Colours are premultiplied sums: divide by alpha for the sampled colour. Ink lies under
      // the skin, so it multiplies (darkens) rather than covers.
      const cr = r / alpha, cg = g / alpha, cb = b / alpha;
      const tr = multiply ? (dst[o]! * cr) / 255 : cr, tg = multiply ? (dst[o + 1]! * cg) / 255 : cg, tb = multiply ? (dst[o + 2]! * cb) / 255 : cb;
      dst[o] = Math.round(dst[o]! * (1 - a) + tr * a);
      dst[o + 1] = Math.round(dst[o + 1]! * (1 - a) + tg * a);
      dst[o + 2] = Math.round(dst[o + 2]! * (1 - a) + tb * a);
    }
  }
}
