import { ErrorCode, Modality } from "@taj/proto";
import { AppError } from "./errors.ts";

/** TAJ technical ids are opaque. This shape also makes them safe as NATS subject tokens. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The one place ids are validated. */
export function validateId(id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new AppError(ErrorCode.INVALID_ID, "id must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'");
  }
  return id;
}

/** Extractors' model ids, e.g. "faceplugin-fr-feature-512/align5-v1". */
const MODEL_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * The one check of a model id in a request or the settings: 1-128 printable ASCII characters, no
 * spaces. `optional`: "" is allowed and means "the default model".
 */
export function validateModelId(modelId: string, field: string, optional: boolean): string {
  if (modelId === "" && optional) return modelId;
  if (!MODEL_ID_PATTERN.test(modelId)) throw new AppError(ErrorCode.INVALID_ARGUMENT, `${field} must be 1 to 128 printable ASCII characters without spaces`);
  return modelId;
}

/**
 * Stable partition of an id: FNV-1a (32 bit) of its UTF-8 bytes modulo the partition count.
 * Never change this function: it decides where every enrolled template lives.
 */
export function partitionOf(id: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(id, "utf8")) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitionCount;
}

const MODALITY_NAMES: ReadonlyMap<Modality, string> = new Map([
  [Modality.FACE, "face"],
  [Modality.TATTOO, "tattoo"],
  [Modality.MARK, "mark"],
]);

export const ALL_MODALITIES: readonly Modality[] = [...MODALITY_NAMES.keys()];

/** Lower-case name used in subjects, file names, metrics labels and config. */
export function modalityName(modality: Modality): string {
  const name = MODALITY_NAMES.get(modality);
  if (name === undefined) {
    throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, "modality must be FACE, TATTOO or MARK");
  }
  return name;
}

export function modalityFromName(name: string): Modality {
  for (const [modality, n] of MODALITY_NAMES) if (n === name.toLowerCase()) return modality;
  throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, `unknown modality "${name}"`);
}
