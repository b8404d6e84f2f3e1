import type { Etcd3 } from "etcd3";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ProjectionSchema, type Modality, type Projection } from "@taj/proto";
import { AppError } from "./errors.ts";
import { ALL_MODALITIES, modalityName } from "./ids.ts";
import { ACTIVE_PROJECTION_PREFIX, PROJECTION_PREFIX, activeProjectionKey, projectionKey } from "./cluster-layout.ts";
import { ETCD_MAX_REQUEST_BYTES } from "./cluster-constants.ts";
import type { Logger } from "./logger.ts";
import { projectionOf } from "./projection/index.ts";

/** Room left in etcd's request for the key, the transaction's compare and gRPC framing. */
const REQUEST_OVERHEAD_BYTES = 4_096;
const MAX_ATTEMPTS = 10;

/** The encoded message, refused when one etcd request could not carry it. */
export function encodeProjectionValue(message: Projection): Uint8Array {
  projectionOf(message); // refuses a message whose fields disagree before it reaches any shard
  const bytes = toBinary(ProjectionSchema, message);
  if (bytes.length + REQUEST_OVERHEAD_BYTES > ETCD_MAX_REQUEST_BYTES) {
    throw new AppError(
      ErrorCode.INVALID_ARGUMENT,
      `a ${message.inputDimensions} -> ${message.outputDimensions} projection is ${bytes.length} bytes, more than one etcd request takes ` +
        `(${ETCD_MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES}): choose fewer output dimensions`,
    );
  }
  return bytes;
}

function versionOfKey(key: string): number | undefined {
  const v = Number(key.slice(key.lastIndexOf("/") + 1));
  return Number.isInteger(v) && v > 0 ? v : undefined;
}

/**
 * Stores a new version of the modality's projection (never activated here) and returns its
 * number: one more than the highest stored, written only if that key is still free, so two
 * learners at once get different versions. Versions are never deleted, so never reused.
 */
export async function saveProjection(etcd: Etcd3, message: Projection): Promise<number> {
  const name = modalityName(message.modality);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const keys = await etcd.getAll().prefix(`${PROJECTION_PREFIX}${name}/`).keys();
    const version = Math.max(0, ...keys.map((k) => versionOfKey(k) ?? 0)) + 1;
    const value = encodeProjectionValue({ ...message, version });
    const key = projectionKey(name, version);
    const result = await etcd.if(key, "Create", "==", 0).then(etcd.put(key).value(Buffer.from(value))).commit();
    if (result.succeeded) return version;
  }
  throw new AppError(ErrorCode.UNAVAILABLE, "other projections of this modality keep being stored at the same time; retry");
}

export async function readProjection(etcd: Etcd3, modality: Modality, version: number): Promise<Projection | undefined> {
  const raw = await etcd.get(projectionKey(modalityName(modality), version)).buffer();
  return raw === null ? undefined : fromBinary(ProjectionSchema, raw);
}

/** Every stored version, of one modality or of all, in version order. */
export async function listProjections(etcd: Etcd3, modality?: Modality): Promise<Projection[]> {
  const prefix = modality === undefined ? PROJECTION_PREFIX : `${PROJECTION_PREFIX}${modalityName(modality)}/`;
  const all = await etcd.getAll().prefix(prefix).sort("Key", "Ascend").buffers();
  return Object.values(all).map((raw) => fromBinary(ProjectionSchema, raw));
}

/** The version an active key names; undefined when absent or not a version. */
export function parseActiveVersion(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const v = Number(raw.trim());
  return Number.isInteger(v) && v > 0 ? v : undefined;
}

/** Makes `version` the modality's active projection; NOT_FOUND unless that version is stored. */
export async function activateProjection(etcd: Etcd3, modality: Modality, version: number): Promise<void> {
  const name = modalityName(modality);
  const result = await etcd
    .if(projectionKey(name, version), "Create", ">", 0)
    .then(etcd.put(activeProjectionKey(name)).value(String(version)))
    .commit();
  if (!result.succeeded) throw new AppError(ErrorCode.NOT_FOUND, `no ${name} projection version ${version} is stored`);
}

/** Back to raw templates for the modality. Returns whether a projection was active. */
export async function deactivateProjection(etcd: Etcd3, modality: Modality): Promise<boolean> {
  const r = await etcd.delete().key(activeProjectionKey(modalityName(modality))).exec();
  return Number(r.deleted) > 0;
}

/** The active version of every modality that has one. */
export async function readActiveVersions(etcd: Etcd3): Promise<Map<Modality, number>> {
  const raw = await etcd.getAll().prefix(ACTIVE_PROJECTION_PREFIX).strings();
  const active = new Map<Modality, number>();
  for (const modality of ALL_MODALITIES) {
    const v = parseActiveVersion(raw[activeProjectionKey(modalityName(modality))] ?? null);
    if (v !== undefined) active.set(modality, v);
  }
  return active;
}

/**
 * Reads the active versions, then calls `onChange` whenever one is set, changed or removed
 * (version undefined: raw templates). The watch starts at the revision read, so no change
 * between the read and the watch is missed.
 */
export async function watchActiveProjections(
  etcd: Etcd3, logger: Logger, onChange: (modality: Modality, version: number | undefined) => void,
): Promise<{ initial: Map<Modality, number>; cancel(): Promise<void> }> {
  const response = await etcd.getAll().prefix(ACTIVE_PROJECTION_PREFIX).exec();
  const initial = new Map<Modality, number>();
  const modalityOfKey = (key: string) => ALL_MODALITIES.find((m) => activeProjectionKey(modalityName(m)) === key);
  for (const kv of response.kvs) {
    const modality = modalityOfKey(kv.key.toString());
    const v = parseActiveVersion(kv.value.toString());
    if (modality !== undefined && v !== undefined) initial.set(modality, v);
  }
  const watcher = await etcd.watch().prefix(ACTIVE_PROJECTION_PREFIX).startRevision(String(BigInt(response.header.revision) + 1n)).create();
  watcher.on("put", (kv) => {
    const modality = modalityOfKey(kv.key.toString());
    if (modality === undefined) return;
    const v = parseActiveVersion(kv.value.toString());
    if (v === undefined) logger.error({ key: kv.key.toString() }, "active projection key holds no version; treated as none");
    onChange(modality, v);
  });
  watcher.on("delete", (kv) => {
    const modality = modalityOfKey(kv.key.toString());
    if (modality !== undefined) onChange(modality, undefined);
  });
  watcher.on("error", (err) => logger.warn({ err }, "active projection watch error; etcd3 reconnects"));
  return { initial, cancel: () => watcher.cancel() };
}
