import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { markDesign, type MarkModality } from "./designs.ts";
import { mixSeed, seededRng } from "./rng.ts";
import { renderMark, type MarkRendering } from "./render.ts";

export interface MarkDatasetOptions {
  modality: MarkModality;
  identities: number;
  /** Renderings per identity: the first is enrolled, the rest are probes. */
  perIdentity: number;
  seed: number;
  width?: number;
  height?: number;
}

export interface MarkDatasetLabel {
  identity: string;
  kind: string;
  file: string;
  box: MarkRendering["box"];
}

const pad = (n: number, width: number) => String(n).padStart(width, "0");

/**
 * Writes the labelled set in the layout `npm run eval` reads: one sub-folder per identity, its
 * renderings named in order (00.jpg is enrolled). labels.json at the root (which the eval does
 * not scan) gives each image's kind and design box.
 */
export async function writeMarkDataset(dir: string, options: MarkDatasetOptions): Promise<MarkDatasetLabel[]> {
  if (!Number.isInteger(options.identities) || options.identities < 1) throw new Error("identities must be a positive integer");
  if (!Number.isInteger(options.perIdentity) || options.perIdentity < 1) throw new Error("perIdentity must be a positive integer");
  const labels: MarkDatasetLabel[] = [];
  const idWidth = Math.max(3, String(options.identities - 1).length);
  const fileWidth = Math.max(2, String(options.perIdentity - 1).length);
  const size = { width: options.width ?? 384, height: options.height ?? 384 };
  for (let i = 0; i < options.identities; i++) {
    const design = markDesign(options.modality, mixSeed(options.seed, i, 1));
    const skinTone = seededRng(mixSeed(options.seed, i, 3))();
    const identity = `${options.modality}-${pad(i, idWidth)}`;
    await mkdir(join(dir, identity), { recursive: true });
    for (let k = 0; k < options.perIdentity; k++) {
      const r = await renderMark(design, mixSeed(options.seed, i, 2, k), { ...size, skinTone });
      const file = `${pad(k, fileWidth)}.jpg`;
      await writeFile(join(dir, identity, file), r.bytes);
      labels.push({ identity, kind: design.kind, file, box: r.box });
    }
  }
  await writeFile(join(dir, "labels.json"), JSON.stringify(labels, null, 1) + "\n");
  return labels;
}
