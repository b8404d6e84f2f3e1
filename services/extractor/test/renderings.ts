import sharp from "sharp";
import type { PixelBox } from "../src/pipeline.ts";

/** Another rendering of a photo, and where a given face box lands in it. */
export interface Rendering {
  name: string;
  bytes: Buffer;
  box: PixelBox;
}

export const SAMPLES = [1, 2, 3, 4, 5, 6].map((i) => `sample${i}.jpg`);

export function samplePath(name: string): string {
  return new URL(`../../../node_modules/@vladmandic/face-api/demo/${name}`, import.meta.url).pathname;
}

/**
 * The four re-renderings the issue asks for: rescaled 0.6x, recompressed at JPEG quality 40,
 * cropped around the face off-centre, rotated by 5 degrees.
 */
export async function renderings(photo: Buffer, box: PixelBox): Promise<Rendering[]> {
  const { width, height } = await sharp(photo).metadata();
  if (width === undefined || height === undefined) throw new Error("no size");
  const scale = 0.6;
  const rescaled = await sharp(photo).resize(Math.round(width * scale)).jpeg({ quality: 90 }).toBuffer();
  const recompressed = await sharp(photo).jpeg({ quality: 40 }).toBuffer();

  const left = Math.max(0, Math.round(box.x - box.width * 0.9));
  const top = Math.max(0, Math.round(box.y - box.height * 0.6));
  const right = Math.min(width, Math.round(box.x + box.width * 1.7));
  const bottom = Math.min(height, Math.round(box.y + box.height * 2.2));
  const cropped = await sharp(photo).extract({ left, top, width: right - left, height: bottom - top }).png().toBuffer();

  const degrees = 5;
  const rotated = await sharp(photo).rotate(degrees, { background: "#808080" }).jpeg({ quality: 90 }).toBuffer();
  const rotatedMeta = await sharp(rotated).metadata();
  const t = (degrees * Math.PI) / 180;
  const cx = width / 2, cy = height / 2;
  const ncx = (rotatedMeta.width ?? 0) / 2, ncy = (rotatedMeta.height ?? 0) / 2;
  // sharp turns clockwise for positive angles: with y pointing down that is the usual matrix.
  const bx = box.x + box.width / 2 - cx, by = box.y + box.height / 2 - cy;
  const rcx = ncx + Math.cos(t) * bx - Math.sin(t) * by;
  const rcy = ncy + Math.sin(t) * bx + Math.cos(t) * by;

  return [
    { name: "rescaled-0.6", bytes: rescaled, box: { x: box.x * scale, y: box.y * scale, width: box.width * scale, height: box.height * scale } },
    { name: "jpeg-q40", bytes: recompressed, box },
    { name: "cropped", bytes: cropped, box: { ...box, x: box.x - left, y: box.y - top } },
    { name: "rotated-5deg", bytes: rotated, box: { ...box, x: rcx - box.width / 2, y: rcy - box.height / 2 } },
  ];
}

export { cosine } from "@taj/common";
