import sharp from "sharp";
import type { Box } from "@taj/proto";

/** A new image of one face, made differently from the photo it was enrolled from. */
export interface Rendering {
  kind: string;
  bytes: Buffer;
  /** Where the face's box centre lands in the rendered image, to pick it among several faces. */
  faceCentre: { x: number; y: number };
}

interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

function regionAround(box: Box, margin: number, shiftX: number, shiftY: number, width: number, height: number): Region {
  const side = Math.max(box.widthPx, box.heightPx) * (1 + 2 * margin);
  const cx = box.xPx + box.widthPx / 2 + shiftX * box.widthPx;
  const cy = box.yPx + box.heightPx / 2 + shiftY * box.heightPx;
  const left = Math.max(0, Math.round(cx - side / 2));
  const top = Math.max(0, Math.round(cy - side / 2));
  return {
    left,
    top,
    width: Math.min(width - left, Math.round(side)),
    height: Math.min(height - top, Math.round(side)),
  };
}

function centreIn(box: Box, region: Region, scale: number): { x: number; y: number } {
  return {
    x: (box.xPx + box.widthPx / 2 - region.left) * scale,
    y: (box.yPx + box.heightPx / 2 - region.top) * scale,
  };
}

/**
 * Four renderings of the face in `box`: rescaled, recompressed hard, cropped with another margin
 * and offset, and slightly rotated, as probes arrive from other sources than the enrolment.
 * Given the face's inter-ocular distance, the rescaled rendering keeps the face large enough to search.
 */
export async function renderFace(photo: Buffer, box: Box, interOcularPx?: number): Promise<Rendering[]> {
  const meta = await sharp(photo).rotate().metadata();
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  const base = () => sharp(photo).rotate();

  const wide = regionAround(box, 0.6, 0, 0, width, height);
  // Shrink to 70 %, unless that would take the eyes near the 32 px minimum: then enlarge
  // instead, which is a rescaling too.
  const rescaleFactor = interOcularPx === undefined || interOcularPx * 0.7 >= 36 ? 0.7 : 1.3;
  const rescaled = await base()
    .extract(wide)
    .resize(Math.round(wide.width * rescaleFactor))
    .jpeg({ quality: 85 })
    .toBuffer();

  const recompressed = await base().extract(wide).jpeg({ quality: 25 }).toBuffer();

  const offset = regionAround(box, 0.35, 0.12, -0.08, width, height);
  const cropped = await base().extract(offset).png().toBuffer();

  const rotatedRaw = await base().extract(wide).rotate(6, { background: "#808080" }).png().toBuffer();
  // Rotation grows the canvas around the same centre, so the face centre moves by half the growth.
  const rotatedMeta = await sharp(rotatedRaw).metadata();
  const grow = { x: ((rotatedMeta.width ?? wide.width) - wide.width) / 2, y: ((rotatedMeta.height ?? wide.height) - wide.height) / 2 };
  const wideCentre = centreIn(box, wide, 1);
  const angle = (6 * Math.PI) / 180;
  const dx = wideCentre.x - wide.width / 2;
  const dy = wideCentre.y - wide.height / 2;
  const rotatedCentre = {
    x: wide.width / 2 + grow.x + dx * Math.cos(angle) - dy * Math.sin(angle),
    y: wide.height / 2 + grow.y + dx * Math.sin(angle) + dy * Math.cos(angle),
  };
  const rotated = await sharp(rotatedRaw).jpeg({ quality: 90 }).toBuffer();

  return [
    { kind: "rescaled", bytes: rescaled, faceCentre: centreIn(box, wide, rescaleFactor) },
    { kind: "recompressed", bytes: recompressed, faceCentre: centreIn(box, wide, 1) },
    { kind: "cropped", bytes: cropped, faceCentre: centreIn(box, offset, 1) },
    { kind: "rotated", bytes: rotated, faceCentre: rotatedCentre },
  ];
}

/** The box among `faces` whose centre is nearest to `point`. */
export function nearestBox(faces: readonly Box[], point: { x: number; y: number }): Box | undefined {
  let best: Box | undefined;
  let bestDistance = Infinity;
  for (const f of faces) {
    const d = Math.hypot(f.xPx + f.widthPx / 2 - point.x, f.yPx + f.heightPx / 2 - point.y);
    if (d < bestDistance) {
      bestDistance = d;
      best = f;
    }
  }
  return best;
}
