import { readdir } from "node:fs/promises";
import { extname, join } from "node:path";

/** The formats the extractor accepts; other files in the folders are listed as skipped. */
const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"]);

export interface LabelledImage {
  identity: string;
  /** Name inside the identity's folder. */
  file: string;
  path: string;
}

export interface Dataset {
  images: LabelledImage[];
  identities: string[];
  skipped: string[];
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** One sub-folder per identity; inside, its images in file-name order (the first is enrolled). */
export async function scanDataset(root: string): Promise<Dataset> {
  const entries = await readdir(root, { withFileTypes: true });
  const images: LabelledImage[] = [];
  const identities: string[] = [];
  const skipped: string[] = [];
  for (const dir of entries.filter((e) => e.isDirectory()).map((e) => e.name).sort(byName)) {
    const files = (await readdir(join(root, dir), { withFileTypes: true })).filter((f) => f.isFile()).map((f) => f.name).sort(byName);
    let count = 0;
    for (const file of files) {
      if (!IMAGE_EXTENSIONS.has(extname(file).toLowerCase())) {
        skipped.push(join(dir, file));
        continue;
      }
      images.push({ identity: dir, file, path: join(root, dir, file) });
      count++;
    }
    if (count > 0) identities.push(dir);
  }
  return { images, identities, skipped };
}
