import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { readFile } from "node:fs/promises";

const require = createRequire(import.meta.url);

/**
 * The six group photos that ship with @vladmandic/face-api's demo folder (about twenty faces):
 * public sample images, used by the demo, tests and benchmarks so nothing is downloaded.
 */
export function samplePhotoPaths(): string[] {
  const root = dirname(require.resolve("@vladmandic/face-api/package.json"));
  return [1, 2, 3, 4, 5, 6].map((n) => join(root, "demo", `sample${n}.jpg`));
}

export interface SamplePhoto {
  name: string;
  bytes: Buffer;
}

export async function loadSamplePhotos(): Promise<SamplePhoto[]> {
  return Promise.all(
    samplePhotoPaths().map(async (path, i) => ({ name: `sample${i + 1}`, bytes: await readFile(path) })),
  );
}
