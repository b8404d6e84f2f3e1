import sharp from "sharp";
import type { MarkDesign } from "./designs.ts";
import { between, seededRng } from "./rng.ts";
import { clamp, skinTexture } from "./skin.ts";
import { compositeWarped, homography, type Point } from "./warp.ts";

export interface MarkRenderOptions {
  /** Output size in pixels; 384 x 384 by default. */
  width?: number;
  height?: number;
  /**
   * Skin tone from 0 (light) to 1 (dark). A set gives one per identity: the photos of one tattoo
   * are of one person's skin, only the light differs. Unset: drawn from the seed.
   */
  skinTone?: number;
}

export interface MarkRendering {
  /** JPEG bytes. */
  bytes: Buffer;
  width: number;
  height: number;
  /** Bounding box, in output pixels, of the design's square canvas after warping (clamped to the image). */
  box: { x: number; y: number; width: number; height: number };
  /** What was drawn, to explain a failure: angle in degrees, JPEG quality, blur sigma (0 = none). */
  params: { angleDeg: number; scale: number; quality: number; blurSigma: number; brightness: number };
}

/**
 * One photograph-like rendering of `design`: onto a skin texture (of the given or a random tone), rotated up to
 * 25 degrees, in perspective, scaled and slightly off centre, under a lighting gradient, blurred
 * and JPEG-compressed. The same (design, seed) gives the same bytes.
 */
export async function renderMark(design: MarkDesign, seed: number, options: MarkRenderOptions = {}): Promise<MarkRendering> {
  const width = options.width ?? 384, height = options.height ?? 384;
  const rng = seededRng(seed);
  const short = Math.min(width, height);

  const scale = between(rng, 0.45, 0.75);
  const side = short * scale;
  const angleDeg = between(rng, -25, 25);
  const angle = (angleDeg * Math.PI) / 180;
  const centre: Point = [width / 2 + between(rng, -0.06, 0.06) * width, height / 2 + between(rng, -0.06, 0.06) * height];
  // Perspective: the square's corners each pulled up to 9 % of its side, then rotated about the centre.
  const unit: Point[] = [[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]];
  const quad: Point[] = unit.map(([ux, uy]) => {
    const px = (ux + between(rng, -0.09, 0.09)) * side, py = (uy + between(rng, -0.09, 0.09)) * side;
    return [centre[0] + px * Math.cos(angle) - py * Math.sin(angle), centre[1] + px * Math.sin(angle) + py * Math.cos(angle)];
  });

  // Rasterise at about the size it will cover, so sampling neither aliases nor wastes time.
  const srcSize = Math.max(16, Math.round(side * 1.1));
  const svg = Buffer.from(design.svg.replace('width="100" height="100"', `width="${srcSize}" height="${srcSize}"`));
  const src = await sharp(svg).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const sw = src.info.width, sh = src.info.height;
  const corners: Point[] = [[0, 0], [sw, 0], [sw, sh], [0, sh]];
  const toSrc = homography(quad, corners);

  const xs = quad.map((p) => p[0]), ys = quad.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs))), y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const x1 = Math.min(width, Math.ceil(Math.max(...xs))), y1 = Math.min(height, Math.ceil(Math.max(...ys)));

  const pixels = skinTexture(rng, width, height, options.skinTone);
  const tattoo = design.modality === "tattoo";
  compositeWarped(pixels, width, height, src.data, sw, sh, toSrc, tattoo ? between(rng, 0.8, 0.95) : between(rng, 0.85, 1), tattoo, { x0, y0, x1, y1 });

  const brightness = between(rng, 0.75, 1.2);
  const gradient = between(rng, 0, 0.35), dir = rng() * Math.PI * 2;
  const gx = Math.cos(dir) / short, gy = Math.sin(dir) / short;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const k = brightness * (1 + gradient * ((x - width / 2) * gx + (y - height / 2) * gy));
      const i = (y * width + x) * 3;
      pixels[i] = clamp(pixels[i]! * k);
      pixels[i + 1] = clamp(pixels[i + 1]! * k);
      pixels[i + 2] = clamp(pixels[i + 2]! * k);
    }
  }

  // A third of the renderings in focus; the rest blurred as a hand-held phone photo would be.
  const blurSigma = rng() < 0.33 ? 0 : between(rng, 0.4, 1.8);
  const quality = Math.round(between(rng, 35, 95));
  let image = sharp(pixels, { raw: { width, height, channels: 3 } });
  if (blurSigma > 0) image = image.blur(blurSigma);
  const bytes = await image.jpeg({ quality }).toBuffer();

  return {
    bytes,
    width,
    height,
    box: { x: x0, y: y0, width: x1 - x0, height: y1 - y0 },
    params: { angleDeg, scale, quality, blurSigma, brightness },
  };
}
