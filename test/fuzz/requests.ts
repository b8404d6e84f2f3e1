// Request messages of the public API encoded by hand (see wire.ts), so any field can hold any
// value, including ones protobuf-es would refuse to write; and the local decode that tells what
// the gateway can legitimately answer to a body that may or may not parse.
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import {
  DeleteRequestSchema, EnrollRequestSchema, GetRequestSchema, Modality, SearchRequestSchema, StatsRequestSchema,
} from "@taj/proto";
import { floatBitsField, floatField, lenField, varintField } from "./wire.ts";

export type Method = "Enroll" | "Search" | "Delete" | "Get" | "Stats";
export const METHODS: readonly Method[] = ["Enroll", "Search", "Delete", "Get", "Stats"];
/** Every RPC of the public API: the fuzzed five, and the others that only the credential cases call. */
export type Rpc = Method | "RecordFeedback" | "QueryAudit" | "FeedbackSummary";
export const RPCS: readonly Rpc[] = [...METHODS, "RecordFeedback", "QueryAudit", "FeedbackSummary"];
export const pathOf = (rpc: Rpc) => `/taj.v1.MatchingService/${rpc}`;

const SCHEMAS: Record<Method, DescMessage> = {
  Enroll: EnrollRequestSchema,
  Search: SearchRequestSchema,
  Delete: DeleteRequestSchema,
  Get: GetRequestSchema,
  Stats: StatsRequestSchema,
};

/** A float given as a number or by its raw bits. */
export type Float = number | { bits: number };
const float = (field: number, v: Float) => (typeof v === "number" ? floatField(field, v) : floatBitsField(field, v.bits));

export interface EnrollFields {
  modality?: number | bigint;
  id?: string | Buffer;
  image?: Buffer;
  box?: Buffer;
}

export function enrollBody(f: EnrollFields): Buffer {
  const parts: Buffer[] = [];
  if (f.modality !== undefined) parts.push(varintField(1, f.modality));
  if (f.id !== undefined) parts.push(lenField(2, f.id));
  if (f.image !== undefined) parts.push(lenField(3, f.image));
  if (f.box !== undefined) parts.push(lenField(4, f.box));
  return Buffer.concat(parts);
}

export interface SearchFields {
  modality?: number | bigint;
  image?: Buffer;
  threshold?: Float;
  maxCandidates?: number | bigint;
  caseRef?: string | Buffer;
  box?: Buffer;
  mode?: number | bigint;
}

export function searchBody(f: SearchFields): Buffer {
  const parts: Buffer[] = [];
  if (f.modality !== undefined) parts.push(varintField(1, f.modality));
  if (f.image !== undefined) parts.push(lenField(2, f.image));
  if (f.threshold !== undefined) parts.push(float(3, f.threshold));
  if (f.maxCandidates !== undefined) parts.push(varintField(4, f.maxCandidates));
  // Every search carries a case reference, as the gateway may require one (CASE_REF_REQUIRED).
  parts.push(lenField(5, f.caseRef ?? "FUZZ-CASE-1"));
  if (f.box !== undefined) parts.push(lenField(6, f.box));
  if (f.mode !== undefined) parts.push(varintField(7, f.mode));
  return Buffer.concat(parts);
}

export function recordBody(modality: number | bigint | undefined, id: string | Buffer | undefined): Buffer {
  const parts: Buffer[] = [];
  if (modality !== undefined) parts.push(varintField(1, modality));
  if (id !== undefined) parts.push(lenField(2, id));
  return Buffer.concat(parts);
}

export const FACE = Modality.FACE;

const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const isValidId = (id: string) => ID_PATTERN.test(id);

// What each method may answer to a request that parses but is wrong somewhere: the codes of
// validation and of the image pipeline for images that are not a usable face.
const IMAGE_ERRORS = ["IMAGE_EMPTY", "IMAGE_TOO_LARGE", "IMAGE_CORRUPT", "IMAGE_UNSUPPORTED_FORMAT", "NO_FACE", "BOX_MATCHES_NO_FACE"];
const INPUT_ERRORS: Record<Method, readonly string[]> = {
  Enroll: ["INVALID_ARGUMENT", "INVALID_ID", "UNSUPPORTED_MODALITY", ...IMAGE_ERRORS],
  Search: ["INVALID_ARGUMENT", "UNSUPPORTED_MODALITY", ...IMAGE_ERRORS],
  Delete: ["INVALID_ID", "UNSUPPORTED_MODALITY"],
  Get: ["INVALID_ID", "UNSUPPORTED_MODALITY", "NOT_FOUND"],
  Stats: ["OK"],
};

/**
 * What the gateway may answer to these bytes: INVALID_ARGUMENT when they do not parse as the
 * method's request, otherwise the method's input errors. Undefined for a body that would be a
 * valid Delete (it would write a tombstone: such a body is not a hostile input, and the run must
 * change nothing).
 */
export function expectForBody(method: Method, body: Buffer): readonly string[] | undefined {
  let message: Record<string, unknown>;
  try {
    message = fromBinary(SCHEMAS[method], body) as unknown as Record<string, unknown>;
  } catch {
    return ["INVALID_ARGUMENT"];
  }
  if (method === "Delete") {
    const modality = message["modality"] as number;
    if (modality >= 0 && modality <= 3 && isValidId(message["id"] as string)) return undefined;
  }
  return INPUT_ERRORS[method];
}
