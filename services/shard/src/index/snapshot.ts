import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { PartitionIndex, fsyncPath, writeSynced } from "./partition-index.ts";
import type { IndexStore } from "./store.ts";
import { spaceParts } from "@taj/common";
import { BodyLocations } from "./body-locations.ts";

const MANIFEST = "manifest.json";

/**
 * 2: indexes per space (modality and model, `space` "face:<model id>"). A version-1 snapshot kept
 * one index per modality without its model: it is not loaded (the replica rebuilds from the log,
 * once, after the upgrade that brought model spaces).
 */
const SNAPSHOT_VERSION = 2;

const Manifest = z.object({
  version: z.number().int(),
  dir: z.string().regex(/^snap-[0-9a-z-]+$/),
  createdAt: z.string(),
  /** Per partition, the last log sequence whose effect the snapshot includes. */
  sequences: z.record(z.string(), z.number().int().min(0)),
  indexes: z.array(z.object({ space: z.string(), partition: z.number().int().min(0), base: z.string(), templates: z.number() })),
  /** Projection version each modality's indexes hold; a modality absent holds raw templates (and so do snapshots written before this field). */
  projections: z.record(z.string(), z.number().int().min(1)).optional(),
});
type Manifest = z.infer<typeof Manifest>;

export type SnapshotEntry = Manifest["indexes"][number];

export interface SnapshotResult {
  dir: string;
  templates: number;
}

/**
 * A snapshot is written in three steps because a shard's partitions live in several index
 * workers: the main thread makes a fresh directory, each worker saves its own indexes into it
 * (saveIndexes), then the main thread fsyncs the directory and renames the manifest into place
 * (commitSnapshot). The rename is the commit point, so a crash at any moment leaves the previous
 * snapshot whole. Older snapshot directories (and leftovers of interrupted ones) are removed after.
 */
export function newSnapshotDir(dataDir: string): { dirName: string; dir: string } {
  mkdirSync(dataDir, { recursive: true });
  const dirName = `snap-${Date.now().toString(36)}-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const dir = join(dataDir, dirName);
  mkdirSync(dir);
  return { dirName, dir };
}

/** Saves the store's indexes of the partitions in `sequences`; `part` names this worker's side files. */
export function saveIndexes(store: IndexStore, dir: string, sequences: Record<number, number>, part: number): SnapshotEntry[] {
  const entries: SnapshotEntry[] = [];
  for (const { space, partition, index } of store.entries()) {
    if (sequences[partition] === undefined) continue;
    const base = fileBaseOf(space, partition);
    index.save(dir, base);
    entries.push({ space, partition, base, templates: index.size });
  }
  store.locations.save(dir, new Set(Object.keys(sequences).map(Number)), part);
  return entries;
}

/** Model ids may hold any character ('/' among them): file names carry a digest of the model, the manifest the space itself. */
function fileBaseOf(space: string, partition: number): string {
  const { modality, modelId } = spaceParts(space);
  return `${modality}-${createHash("sha256").update(modelId).digest("hex").slice(0, 16)}-${partition}`;
}

export function commitSnapshot(
  dataDir: string, dirName: string, indexes: SnapshotEntry[], sequences: Record<number, number>, projections: Record<string, number> = {},
): SnapshotResult {
  fsyncPath(join(dataDir, dirName));
  const manifest: Manifest = {
    version: SNAPSHOT_VERSION,
    dir: dirName,
    createdAt: new Date().toISOString(),
    sequences: Object.fromEntries(Object.entries(sequences).map(([p, s]) => [p, s])),
    indexes,
    projections,
  };
  const tmp = join(dataDir, `${MANIFEST}.tmp`);
  writeSynced(tmp, Buffer.from(JSON.stringify(manifest)));
  renameSync(tmp, join(dataDir, MANIFEST));
  fsyncPath(dataDir);
  for (const entry of readdirSync(dataDir)) {
    if (entry.startsWith("snap-") && entry !== dirName) rmSync(join(dataDir, entry), { recursive: true, force: true });
  }
  return { dir: dirName, templates: indexes.reduce((n, e) => n + e.templates, 0) };
}

export interface LoadedSnapshot {
  /** Sequence included, for each wanted partition the snapshot covers. */
  sequences: Map<number, number>;
  templates: number;
}

/** What is compared: modalities holding raw templates are left out (version 0 or absent). */
const versionsKey = (v: Record<string, number>) => JSON.stringify(Object.entries(v).filter(([, n]) => n > 0).sort(([a], [b]) => a.localeCompare(b)));

/**
 * Loads the wanted partitions of the current snapshot into the store; undefined when there is none.
 * Throws when the snapshot's indexes hold other projection versions than `projections` (the
 * cluster's active ones): its vectors are in another space, so the replica rebuilds from the log.
 */
export function loadSnapshot(store: IndexStore, dataDir: string, wanted: readonly number[], projections: Record<string, number> = {}): LoadedSnapshot | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, MANIFEST), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const manifest = Manifest.parse(JSON.parse(text));
  if (manifest.version !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${manifest.version} predates per-model indexes (version ${SNAPSHOT_VERSION})`);
  if (versionsKey(manifest.projections ?? {}) !== versionsKey(projections)) {
    throw new Error(`snapshot holds projections ${versionsKey(manifest.projections ?? {})}, the active ones are ${versionsKey(projections)}`);
  }
  const want = new Set(wanted);
  const sequences = new Map<number, number>();
  for (const [p, s] of Object.entries(manifest.sequences)) if (want.has(Number(p))) sequences.set(Number(p), s);
  const dir = join(dataDir, manifest.dir);
  let templates = 0;
  const loaded: { space: string; partition: number; index: PartitionIndex }[] = [];
  for (const e of manifest.indexes) {
    if (!sequences.has(e.partition)) continue;
    const index = PartitionIndex.load(dir, e.base, store.hnswFor(e.space));
    loaded.push({ space: e.space, partition: e.partition, index });
    templates += index.size;
  }
  const locations = BodyLocations.read(dir, new Set(sequences.keys()));
  // Only install once every file read cleanly: a half-loaded snapshot would be worse than none.
  for (const l of loaded) store.set(l.space, l.partition, l.index);
  store.locations.install(locations, new Set(sequences.keys()));
  return { sequences, templates };
}
