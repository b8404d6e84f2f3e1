import sharp from "sharp";
import type { ChannelCredentials } from "@grpc/grpc-js";
import { AppError, createClient } from "@taj/common";
import { ErrorCode, MatchingService, Modality, type Box } from "@taj/proto";
import { loadSamplePhotos } from "@taj/samples";

/** One face to enrol or search with: a single-face crop, or (when a crop still shows a neighbour) the photo plus the face's box. */
export interface Probe {
  label: string;
  image: Buffer;
  faceBox?: Box;
}

const isRetryable = (err: AppError) => err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.DEADLINE_EXCEEDED;

async function crop(photo: Buffer, box: Box, margin: number): Promise<Buffer> {
  const meta = await sharp(photo).rotate().metadata();
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  const side = Math.max(box.widthPx, box.heightPx) * (1 + 2 * margin);
  const left = Math.max(0, Math.round(box.xPx + box.widthPx / 2 - side / 2));
  const top = Math.max(0, Math.round(box.yPx + box.heightPx / 2 - side / 2));
  const region = { left, top, width: Math.min(width - left, Math.round(side)), height: Math.min(height - top, Math.round(side)) };
  return sharp(photo).rotate().extract(region).jpeg({ quality: 90 }).toBuffer();
}

/**
 * Single-face probes from the sample photos, prepared once before a drill through the public API
 * (a search answers MULTIPLE_FACES with every face's box). Each face is cropped; a crop the API
 * still finds unusable is replaced by the whole photo with the face's box, so every probe is
 * accepted by Enroll and Search. Nothing is enrolled here.
 */
export async function prepareProbes(
  gateway: string, credentials: ChannelCredentials, options: { max?: number; timeoutMs?: number } = {},
): Promise<Probe[]> {
  const max = options.max ?? 24;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const client = createClient(MatchingService, gateway, credentials);
  const search = (image: Buffer, faceBox?: Box) =>
    client.search({ modality: Modality.FACE, image, caseRef: "DRILL-PROBES", ...(faceBox ? { faceBox } : {}) }, { timeoutMs });
  const probes: Probe[] = [];
  try {
    for (const photo of await loadSamplePhotos()) {
      let faces: Box[] = [];
      try {
        const res = await search(photo.bytes);
        if (res.probeQuality?.box) faces = [res.probeQuality.box];
      } catch (err) {
        const e = AppError.from(err);
        if (e.code === ErrorCode.MULTIPLE_FACES) faces = e.faces;
        else if (isRetryable(e) || e.code === ErrorCode.INTERNAL) throw e;
      }
      for (const [i, box] of faces.entries()) {
        if (probes.length >= max) return probes;
        const label = `${photo.name}#${i}`;
        const image = await crop(photo.bytes, box, 0.5);
        try {
          await search(image);
          probes.push({ label, image });
          continue;
        } catch (err) {
          const e = AppError.from(err);
          if (isRetryable(e) || e.code === ErrorCode.INTERNAL) throw e;
        }
        try {
          await search(photo.bytes, box);
          probes.push({ label, image: photo.bytes, faceBox: box });
        } catch (err) {
          const e = AppError.from(err);
          if (isRetryable(e) || e.code === ErrorCode.INTERNAL) throw e;
          // Too small or unreadable: this face is simply not used.
        }
      }
    }
    return probes;
  } finally {
    client.close();
  }
}
