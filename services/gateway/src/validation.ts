import { ErrorCode, Modality, SearchMode, type Box, type DeleteRequest, type EnrollRequest, type GetRequest, type SearchRequest } from "@taj/proto";
import { AppError, ALL_MODALITIES, parseBodyLocation, parseBodyLocationFilter, validateId } from "@taj/common";

/** Every input check of the public API lives here, one function per RPC. */

export interface Limits {
  maxImageBytes: number;
  maxCandidatesLimit: number;
  defaultMaxCandidates: number;
  defaultThreshold: ReadonlyMap<Modality, number>;
  /** The mode a search without one runs in, per modality: resolved here, so the answer and the audit say which ran. */
  defaultMode: ReadonlyMap<Modality, SearchMode.APPROXIMATE | SearchMode.EXHAUSTIVE>;
  /** CASE_REF_REQUIRED: a search without case_ref is refused. */
  caseRefRequired: boolean;
}

// TAJ's case references; nothing else (no spaces, no personal data, nothing that could forge an audit line).
const CASE_REF_PATTERN = /^[A-Za-z0-9_./-]{1,64}$/;

/** INVALID_ARGUMENT with a message safe for callers: every request validation of the gateway uses it. */
export const invalid = (message: string) => new AppError(ErrorCode.INVALID_ARGUMENT, message);

export function validateModality(modality: Modality): Modality {
  if (!ALL_MODALITIES.includes(modality)) {
    throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, "modality must be FACE, TATTOO or MARK");
  }
  return modality;
}

/** The one answer to an image above the limit, whether the handler or the transport sees it first. */
export function imageTooLarge(maxImageBytes: number): AppError {
  return new AppError(ErrorCode.IMAGE_TOO_LARGE, `image exceeds ${maxImageBytes} bytes`);
}

function validateImage(image: Uint8Array, limits: Limits): Uint8Array {
  if (image.length === 0) throw new AppError(ErrorCode.IMAGE_EMPTY, "image is empty");
  if (image.length > limits.maxImageBytes) throw imageTooLarge(limits.maxImageBytes);
  return image;
}

function validateBox(box: Box | undefined): Box | undefined {
  if (box === undefined) return undefined;
  const values = [box.xPx, box.yPx, box.widthPx, box.heightPx];
  if (!values.every(Number.isFinite) || box.xPx < 0 || box.yPx < 0 || box.widthPx <= 0 || box.heightPx <= 0) {
    throw invalid("face_box must have x, y >= 0 and a positive width and height");
  }
  return box;
}

export interface ValidEnroll {
  modality: Modality;
  id: string;
  image: Uint8Array;
  faceBox: Box | undefined;
  /** Canonical SMT body-location code, "" when none was given. */
  bodyLocation: string;
  recordImageIndex: number | undefined;
}

/** An ANSI/NIST-ITL transaction lists at most 999 records after its Type-1. */
const MAX_RECORD_IMAGE_INDEX = 998;

function validateRecordImageIndex(index: number | undefined): number | undefined {
  if (index !== undefined && index > MAX_RECORD_IMAGE_INDEX) throw invalid(`record_image_index must be at most ${MAX_RECORD_IMAGE_INDEX}`);
  return index;
}

export function validateEnroll(req: EnrollRequest, limits: Limits): ValidEnroll {
  const modality = validateModality(req.modality);
  return {
    modality,
    id: validateId(req.id),
    image: validateImage(req.image, limits),
    faceBox: validateBox(req.faceBox),
    bodyLocation: parseBodyLocation(modality, req.bodyLocation),
    recordImageIndex: validateRecordImageIndex(req.recordImageIndex),
  };
}

export interface ValidSearch {
  modality: Modality;
  image: Uint8Array;
  faceBox: Box | undefined;
  threshold: number;
  maxCandidates: number;
  caseRef: string;
  /** Never UNSPECIFIED: the request's, or the administrator's default for the modality. */
  mode: SearchMode.APPROXIMATE | SearchMode.EXHAUSTIVE;
  allowPartial: boolean;
  /** Canonical, distinct SMT body-location codes; empty = no filter. */
  bodyLocations: string[];
  recordImageIndex: number | undefined;
  /** Search each face of the image on its own (FACE only, never with a face_box). */
  everyFace: boolean;
}

export function validateSearch(req: SearchRequest, limits: Limits): ValidSearch {
  const modality = validateModality(req.modality);
  const threshold = req.similarityThreshold ?? limits.defaultThreshold.get(modality);
  if (threshold === undefined || !(threshold >= -1 && threshold <= 1)) {
    throw invalid("similarity_threshold must be between -1 and 1");
  }
  const maxCandidates = req.maxCandidates ?? limits.defaultMaxCandidates;
  if (!Number.isInteger(maxCandidates) || maxCandidates < 1 || maxCandidates > limits.maxCandidatesLimit) {
    throw invalid(`max_candidates must be between 1 and ${limits.maxCandidatesLimit}`);
  }
  const caseRef = req.caseRef === "" && !limits.caseRefRequired ? "" : validateCaseRef(req.caseRef);
  const requested = req.mode === SearchMode.UNSPECIFIED ? limits.defaultMode.get(modality) : req.mode;
  if (requested !== SearchMode.APPROXIMATE && requested !== SearchMode.EXHAUSTIVE) throw invalid("mode must be UNSPECIFIED, APPROXIMATE or EXHAUSTIVE");
  const bodyLocations = parseBodyLocationFilter(modality, req.bodyLocations);
  // Shards scan a filtered search's templates exactly whatever the mode, so the answer says so.
  const mode = bodyLocations.length > 0 ? SearchMode.EXHAUSTIVE : requested;
  const faceBox = validateBox(req.faceBox);
  if (req.everyFace && modality !== Modality.FACE) throw invalid("every_face is for FACE searches");
  if (req.everyFace && faceBox !== undefined) throw invalid("every_face searches every face: send it without face_box");
  return {
    modality,
    image: validateImage(req.image, limits),
    faceBox,
    threshold,
    maxCandidates,
    caseRef,
    mode,
    allowPartial: req.allowPartial,
    bodyLocations,
    recordImageIndex: validateRecordImageIndex(req.recordImageIndex),
    everyFace: req.everyFace,
  };
}

/** A case reference, required: empty -> CASE_REF_REQUIRED; other than 1-64 of [A-Za-z0-9_./-] -> INVALID_ARGUMENT. */
export function validateCaseRef(caseRef: string): string {
  if (caseRef === "") throw new AppError(ErrorCode.CASE_REF_REQUIRED, "case_ref is required: the investigation's case reference");
  if (!CASE_REF_PATTERN.test(caseRef)) throw invalid("case_ref must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '/' or '-'");
  return caseRef;
}

export function validateDelete(req: DeleteRequest): { modalities: readonly Modality[]; id: string } {
  const modalities = req.modality === Modality.UNSPECIFIED ? ALL_MODALITIES : [validateModality(req.modality)];
  return { modalities, id: validateId(req.id) };
}

export function validateGet(req: GetRequest): { modality: Modality; id: string } {
  return { modality: validateModality(req.modality), id: validateId(req.id) };
}
