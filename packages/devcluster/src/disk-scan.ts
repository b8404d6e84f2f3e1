import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { encodeF16 } from "@taj/common";

/** One way a template is written to disk, cut into windows to look for. */
export interface TemplateEncoding {
  name: string;
  bytes: Buffer;
}

/**
 * The forms a template takes on this system's disks: the half-precision values in the log's
 * protobuf (`template_f16`, little-endian; common's encoder, as no Node 20 API writes halves), the
 * float32 values of older log records (`repeated float`, packed little-endian), and the shard's
 * int8 rows, which usearch's graph file holds byte for byte too (unit length x 127·√d / 5, scaled
 * down when a component would exceed 127: services/shard/src/index/quantize.ts). Restated here
 * rather than imported so a test checks the disks independently; a test must first see each form
 * on disk, so a drift fails it.
 */
export function templateEncodings(values: ArrayLike<number>): TemplateEncoding[] {
  const f32 = Buffer.from(Float32Array.from(values).buffer);
  const f16 = Buffer.from(encodeF16(values));
  let sumSq = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    sumSq += values[i]! * values[i]!;
    max = Math.max(max, Math.abs(values[i]!));
  }
  const norm = Math.sqrt(sumSq);
  const scale = norm === 0 ? 0 : Math.min((127 * Math.sqrt(values.length)) / 5, (127 * norm) / max) / norm;
  const i8 = Int8Array.from(values, (v) => Math.round(v * scale));
  return [
    { name: "float16", bytes: f16 },
    { name: "float32", bytes: f32 },
    { name: "shard-int8", bytes: Buffer.from(i8.buffer) },
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
 * Every file under `root` holding any `window`-byte slice, at any offset, of any encoding (a
 * partial copy is a copy too). One pass per file: every slice of the templates is indexed by its
 * first 4 bytes, each file position is looked up, candidates are compared in full. Files that
 * vanish while scanned (a snapshot being replaced) are skipped.
 */
export function findTemplateOnDisk(root: string, encodings: readonly TemplateEncoding[], window = 16): DiskHit[] {
  const slices = new Map<number, Array<{ encoding: string; bytes: Buffer }>>();
  for (const enc of encodings) {
    for (let at = 0; at + window <= enc.bytes.length; at++) {
      const key = enc.bytes.readUInt32LE(at);
      if (key === 0) continue; // other slices of the template still cover it; keeps zero runs fast
      const list = slices.get(key) ?? [];
      list.push({ encoding: enc.name, bytes: enc.bytes.subarray(at, at + window) });
      slices.set(key, list);
    }
  }
  const hits: DiskHit[] = [];
  for (const file of filesUnder(root)) {
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    const found = new Set<string>();
    for (let i = 0; i + window <= data.length && found.size < encodings.length; i++) {
      const key = (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)) >>> 0;
      if (key === 0) continue;
      const candidates = slices.get(key);
      if (!candidates) continue;
      for (const c of candidates) {
        if (!found.has(c.encoding) && data.compare(c.bytes, 0, window, i, i + window) === 0) {
          found.add(c.encoding);
          hits.push({ file: relative(root, file), encoding: c.encoding, offset: i });
        }
      }
    }
  }
  return hits;
}
