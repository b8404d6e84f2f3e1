import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type * as Usearch from "usearch";
import { usearch } from "./native-usearch.ts";
import { writeSynced } from "./partition-index.ts";
import type { Hit, PartitionIndex } from "./partition-index.ts";

/**
 * Beside the indexes in a snapshot directory, one file per index worker (`body-locations-<n>.json`;
 * a single `body-locations.json` from before several workers). Absent in snapshots older than body locations.
 */
const FILE_PATTERN = /^body-locations(-\d+)?\.json$/;

type Saved = { modality: string; partition: number; locations: [string, string][] }[];

const keyOf = (modality: string, partition: number) => `${modality}/${partition}`;

/**
 * The SMT body location of each enrolled template that has one, per (space, partition) (the
 * `modality` strings here are spaces: modality and model, store.ts): a
 * side table beside the indexes, fed by the same log events (an enrolment sets or clears the
 * id's location, a delete clears it), dropped with its partition and saved in the same snapshot.
 * Lives in the index worker, next to the vectors a filtered search scans.
 */
export class BodyLocations {
  private readonly tables = new Map<string, { modality: string; partition: number; byId: Map<string, string> }>();

  /** An enrolment: `location` "" (none) clears what a previous generation had. */
  enrolled(modality: string, partition: number, id: string, location: string): void {
    if (location === "") {
      this.deleted(modality, partition, id);
      return;
    }
    const k = keyOf(modality, partition);
    let t = this.tables.get(k);
    if (!t) this.tables.set(k, (t = { modality, partition, byId: new Map() }));
    t.byId.set(id, location);
  }

  deleted(modality: string, partition: number, id: string): void {
    const k = keyOf(modality, partition);
    const t = this.tables.get(k);
    if (!t) return;
    t.byId.delete(id);
    if (t.byId.size === 0) this.tables.delete(k);
  }

  locationOf(modality: string, partition: number, id: string): string | undefined {
    return this.tables.get(keyOf(modality, partition))?.byId.get(id);
  }

  /** Ids of the partition whose location is one of `wanted`. */
  idsAt(modality: string, partition: number, wanted: ReadonlySet<string>): string[] {
    const t = this.tables.get(keyOf(modality, partition));
    if (!t) return [];
    const ids: string[] = [];
    for (const [id, location] of t.byId) if (wanted.has(location)) ids.push(id);
    return ids;
  }

  drop(partitions: ReadonlySet<number>): void {
    for (const [k, t] of this.tables) if (partitions.has(t.partition)) this.tables.delete(k);
  }

  /** Writes the tables of `partitions` into a snapshot directory (before its manifest commits it). */
  save(dir: string, partitions: ReadonlySet<number>, part: number): void {
    const saved: Saved = [];
    for (const t of this.tables.values()) {
      if (partitions.has(t.partition)) saved.push({ modality: t.modality, partition: t.partition, locations: [...t.byId] });
    }
    writeSynced(join(dir, `body-locations-${part}.json`), Buffer.from(JSON.stringify(saved)));
  }

  /**
   * The tables of `partitions` from a snapshot directory, to install with its indexes. A snapshot
   * without the file predates body locations, whose log events carried none: nothing to load.
   */
  static read(dir: string, partitions: ReadonlySet<number>): BodyLocations {
    const loaded = new BodyLocations();
    for (const file of readdirSync(dir).filter((f) => FILE_PATTERN.test(f))) {
      for (const t of JSON.parse(readFileSync(join(dir, file), "utf8")) as Saved) {
        if (!partitions.has(t.partition)) continue;
        for (const [id, location] of t.locations) loaded.enrolled(t.modality, t.partition, id, location);
      }
    }
    return loaded;
  }

  /** The tables of the spaces `replaced` selects become `other`'s (a modality re-indexed aside, swapped in). */
  replaceModality(replaced: (space: string) => boolean, other: BodyLocations): void {
    for (const [k, t] of this.tables) if (replaced(t.modality)) this.tables.delete(k);
    for (const [k, t] of other.tables) if (replaced(t.modality)) this.tables.set(k, t);
  }

  /** Replaces the tables of the partitions `other` was read for (a snapshot load). */
  install(other: BodyLocations, partitions: ReadonlySet<number>): void {
    this.drop(partitions);
    for (const [k, t] of other.tables) this.tables.set(k, t);
  }
}

/**
 * Nearest of `ids` in `index`: an exact cosine scan over just those templates, whatever the
 * search's mode. Exact because every candidate is compared (no graph walk that could skip one),
 * and cheap because a location filter leaves a fraction of the partition; the HNSW graph cannot
 * be asked "nearest among these" without walking past everything else.
 */
export function exactAmong(index: PartitionIndex, ids: readonly string[], query: Int8Array, k: number): Hit[] {
  const rows: string[] = [];
  const flat = new Int8Array(ids.length * index.dims);
  for (const id of ids) {
    const vector = index.vectorOf(id);
    if (vector === undefined) continue;
    flat.set(vector, rows.length * index.dims);
    rows.push(id);
  }
  const count = Math.min(k, rows.length);
  if (count === 0) return [];
  const m = usearch.exactSearch(flat.subarray(0, rows.length * index.dims), query, index.dims, count, usearch.MetricKind.Cos, 1) as Usearch.Matches;
  const hits: Hit[] = [];
  for (let i = 0; i < m.keys.length; i++) {
    const id = rows[Number(m.keys[i]!)];
    if (id !== undefined) hits.push({ id, similarity: 1 - m.distances[i]! });
  }
  return hits;
}
