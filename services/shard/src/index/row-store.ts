import { usearch } from "./native-usearch.ts";
import { int8Cosine } from "./quantize.ts";

/** Largest chunk: 32 MiB of 512-byte rows. Growth beyond the last row never wastes more. */
export const CHUNK_ROWS = 65_536;
const FIRST_CHUNK_ROWS = 1_024;

export interface ScoredRow {
  row: number;
  similarity: number;
}

/**
 * The dense int8 templates of one partition, row = slot, in chunks of at most CHUNK_ROWS rows.
 * Chunks rather than one array doubled on growth: a doubled array holds up to 2x the templates
 * (and a restart's first enrolment doubled it again), while a chunk wastes at most its unused
 * tail. Each chunk is its own ArrayBuffer because usearch's exactSearch reads a typed array from
 * the start of its buffer, whatever the view's offset. Every chunk but the last is full.
 */
export class Int8Rows {
  readonly dims: number;
  private readonly chunks: Int8Array[] = [];
  private count = 0;

  constructor(dims: number) {
    this.dims = dims;
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held, unused chunk tails included: what the rows cost in memory. */
  get allocatedBytes(): number {
    return this.chunks.reduce((n, c) => n + c.byteLength, 0);
  }

  append(vector: Int8Array): number {
    const row = this.count;
    const { chunk, offset } = this.locate(row);
    if (chunk === this.chunks.length) {
      const rows = Math.min(CHUNK_ROWS, Math.max(FIRST_CHUNK_ROWS, this.count));
      this.chunks.push(new Int8Array(rows * this.dims));
    }
    this.chunks[chunk]!.set(vector, offset * this.dims);
    this.count++;
    return row;
  }

  /** Copies the last row into `row` and drops the last row (the caller moves its id). */
  moveLastInto(row: number): void {
    const last = this.count - 1;
    if (row !== last) this.chunkRow(row).set(this.chunkRow(last));
    this.count--;
    const { chunk, offset } = this.locate(this.count);
    // The last chunk emptied: give it back rather than keep it for a later enrolment.
    if (offset === 0 && chunk < this.chunks.length) this.chunks.length = chunk;
  }

  /** A copy of one row. */
  row(row: number): Int8Array {
    return this.chunkRow(row).slice();
  }

  /**
   * The `k` rows most similar to `query`: an inner-product scan (rows share one scale, see
   * quantize.ts) for `k + extra` candidates, re-ranked by exact int8 cosine. The extra candidates
   * let rows stored at a reduced scale, whose inner products come out low, still be found.
   */
  nearest(query: Int8Array, k: number): ScoredRow[] {
    const fetch = Math.min(this.count, Math.max(2 * k, k + 16));
    if (fetch === 0) return [];
    const candidates: { row: number; ip: number }[] = [];
    let start = 0;
    for (const chunk of this.chunks) {
      const rows = Math.min(chunk.length / this.dims, this.count - start);
      if (rows <= 0) break;
      const data = rows * this.dims === chunk.length ? chunk : chunk.subarray(0, rows * this.dims);
      const m = usearch.exactSearch(data, query, this.dims, Math.min(fetch, rows), usearch.MetricKind.IP, 1) as { keys: BigUint64Array; distances: Float32Array };
      // usearch's inner-product distance is 1 - a·b.
      for (let i = 0; i < m.keys.length; i++) candidates.push({ row: start + Number(m.keys[i]!), ip: 1 - m.distances[i]! });
      start += rows;
    }
    candidates.sort((a, b) => b.ip - a.ip);
    return candidates
      .slice(0, fetch)
      .map((c) => ({ row: c.row, similarity: int8Cosine(query, this.chunkRow(c.row)) }))
      .sort((a, b) => b.similarity - a.similarity || a.row - b.row)
      .slice(0, k);
  }

  /** The rows as stored, in order, for a snapshot. */
  *segments(): Generator<Int8Array> {
    let left = this.count * this.dims;
    for (const chunk of this.chunks) {
      if (left <= 0) return;
      const take = Math.min(left, chunk.length);
      yield chunk.subarray(0, take);
      left -= take;
    }
  }

  /** Rows from a snapshot: chunks of exactly the rows read, no growth room. */
  static fromBytes(dims: number, bytes: Uint8Array): Int8Rows {
    if (bytes.length % dims !== 0) throw new Error(`int8 rows of ${bytes.length} bytes are not whole rows of ${dims}`);
    const rows = new Int8Rows(dims);
    const total = bytes.length / dims;
    for (let from = 0; from < total; from += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, total - from);
      const chunk = new Int8Array(n * dims);
      chunk.set(new Int8Array(bytes.buffer, bytes.byteOffset + from * dims, n * dims));
      rows.chunks.push(chunk);
    }
    rows.count = total;
    return rows;
  }

  private chunkRow(row: number): Int8Array {
    if (row < 0 || row >= this.count) throw new Error(`row ${row} outside 0..${this.count - 1}`);
    const { chunk, offset } = this.locate(row);
    return this.chunks[chunk]!.subarray(offset * this.dims, (offset + 1) * this.dims);
  }

  /** Chunk and row within it; chunk === chunks.length when `row` is past the allocated chunks. */
  private locate(row: number): { chunk: number; offset: number } {
    let start = 0;
    for (let c = 0; c < this.chunks.length; c++) {
      const rows = this.chunks[c]!.length / this.dims;
      if (row < start + rows) return { chunk: c, offset: row - start };
      start += rows;
    }
    return { chunk: this.chunks.length, offset: row - start };
  }
}
