import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { ErrorCode, Modality, type Box } from "@taj/proto";
import { AppError } from "@taj/common";
import { loadSamplePhotos, renderFace } from "@taj/samples";
import type { TemplateSource } from "../src/templates.ts";
import { inProcessSource } from "../src/templates.ts";

export interface SampleSet {
  root: string;
  identities: number;
  images: number;
  /** Files made to fail extraction, and the code each should get. */
  unusable: { path: string; code: string }[];
}

/** Every face box of a group photo, as the extractor lists them in its MULTIPLE_FACES answer. */
async function facesOf(source: TemplateSource, photo: Buffer): Promise<Box[]> {
  try {
    const r = await source.extract(Modality.FACE, photo);
    throw new Error(`expected several faces, got one template (${r.modelId})`);
  } catch (err) {
    if (err instanceof AppError && err.code === ErrorCode.MULTIPLE_FACES) return err.faces;
    throw err;
  }
}

async function portrait(photo: Buffer, box: Box): Promise<Buffer> {
  const meta = await sharp(photo).rotate().metadata();
  const width = meta.autoOrient?.width ?? meta.width ?? 0, height = meta.autoOrient?.height ?? meta.height ?? 0;
  const margin = 0.3;
  const left = Math.max(0, Math.round(box.xPx - box.widthPx * margin));
  const top = Math.max(0, Math.round(box.yPx - box.heightPx * margin));
  const right = Math.min(width, Math.round(box.xPx + box.widthPx * (1 + margin)));
  const bottom = Math.min(height, Math.round(box.yPx + box.heightPx * (1 + margin)));
  return sharp(photo).rotate().extract({ left, top, width: right - left, height: bottom - top }).jpeg({ quality: 92 }).toBuffer();
}

/**
 * The same woman appears in sample1 (third face from the left) and sample3 (second face): judged
 * by eye, and the pair scores 0.62 where every other two faces of different photos score under
 * 0.37. Labelled as two people, she would be counted as an impostor of herself.
 */
const SAME_PERSON: Readonly<Record<string, string>> = { "sample3-face1": "sample1-face2" };

/**
 * A labelled set from the six sample group photos: one folder per person (21 from 22 faces),
 * holding, per photo of that person, a tight portrait cut from the photo and the four renderings
 * of that face from @taj/samples. The first file by name (sample<n>-0-portrait.jpg) is enrolled,
 * the others are probes. Two folders also get an image that cannot give a template (a blank grey
 * square: NO_FACE; half a JPEG: IMAGE_CORRUPT) and a text file the scan must skip.
 */
export async function buildSampleSet(root: string): Promise<SampleSet> {
  const source = await inProcessSource({});
  const identities = new Set<string>();
  let images = 0;
  const unusable: SampleSet["unusable"] = [];
  try {
    for (const photo of await loadSamplePhotos()) {
      for (const [i, box] of (await facesOf(source, photo.bytes)).entries()) {
        const face = `${photo.name}-face${i}`;
        const identity = SAME_PERSON[face] ?? face;
        const dir = join(root, identity);
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, `${photo.name}-0-portrait.jpg`), await portrait(photo.bytes, box));
        for (const [k, r] of (await renderFace(photo.bytes, box)).entries()) {
          await writeFile(join(dir, `${photo.name}-${k + 1}-${r.kind}.${r.bytes[0] === 0x89 ? "png" : "jpg"}`), r.bytes);
        }
        identities.add(identity);
        images += 5;
      }
    }
    const blank = await sharp({ create: { width: 240, height: 240, channels: 3, background: "#7f7f7f" } }).png().toBuffer();
    const blankPath = join(root, "sample1-face0", "zz-blank.png");
    await writeFile(blankPath, blank);
    const jpeg = await sharp({ create: { width: 240, height: 240, channels: 3, background: "#406080" } }).jpeg().toBuffer();
    const truncatedPath = join(root, "sample2-face0", "zz-truncated.jpg");
    await writeFile(truncatedPath, jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await writeFile(join(root, "sample1-face0", "notes.txt"), "not an image\n");
    unusable.push({ path: blankPath, code: "NO_FACE" }, { path: truncatedPath, code: "IMAGE_CORRUPT" });
    return { root, identities: identities.size, images: images + 2, unusable };
  } finally {
    source.close();
  }
}

// `node --import tsx packages/eval/test/sample-set.ts <dir>` builds the set for a manual run.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (dir === undefined) throw new Error("usage: sample-set.ts <dir>");
  const set = await buildSampleSet(dir);
  console.log(`${set.identities} identities, ${set.images} images in ${set.root}`);
}
