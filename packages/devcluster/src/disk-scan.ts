import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** One way a template is written to disk, cut into windows to look for. */
export interface TemplateEncoding {
  name: string;
  bytes: Buffer;
}

/**
 * The forms a template takes on this system's disks: the float32 values in the log's protobuf
 * (`repeated float`, packed little-endian), the shard's int8 copy (scaled so the largest component
 * is 127: services/shard/src/index/quantize.ts), and usearch's own int8 cast of that copy for the
 * cosine metric (component / norm x 127, truncated). Restated here rather than imported so a test
 * checks the disks independently; a test must first see each form on disk, so a drift fails it.
 */
export function templateEncodings(values: ArrayLike<number>): TemplateEncoding[] {
  const f32 = Buffer.from(Float32Array.from(values).buffer);
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i]!));
  const i8 = Int8Array.from(values, (v) => (max === 0 ? 0 : Math.round(v * (127 / max))));
  const norm = Math.sqrt(i8.reduce((a, v) => a + v * v, 0));
  const cast = Int8Array.from(i8, (v) => (norm === 0 ? 0 : Math.trunc((v / norm) * 127)));
  return [
    { name: "float32", bytes: f32 },
    { name: "shard-int8", bytes: Buffer.from(i8.buffer) },
    { name: "usearch-int8", bytes: Buffer.from(cast.buffer) },
  ];
}

export interface DiskHit {
  /** Path relative to the scanned root. */
  file: string;
  encoding: string;
  offset: number;
}

function filesUnder(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return out; // removed while scanning
    throw err;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Every file under `root` holding any `window`-byte slice of any encoding (a partial copy is a copy
 * too). Files that vanish while scanned (a snapshot being replaced) are skipped.
 */
export function findTemplateOnDisk(root: string, encodings: readonly TemplateEncoding[], window = 16): DiskHit[] {
  const hits: DiskHit[] = [];
  for (const file of filesUnder(root)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    for (const enc of encodings) {
      for (let at = 0; at + window <= enc.bytes.length; at += window) {
        const offset = data.indexOf(enc.bytes.subarray(at, at + window));
        if (offset !== -1) {
          hits.push({ file: relative(root, file), encoding: enc.name, offset });
          break;
        }
      }
    }
  }
  return hits;
}
