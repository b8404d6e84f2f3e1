import { create } from "@bufbuild/protobuf";
import {
  ErrorCode, Modality, ModalitySettingsSchema, QualityGatesSchema, SearchMode, type Box, type DeleteRequest, type EnrollRequest, type GetRequest,
  type DropModelTemplatesRequest, type ModalitySettings, type QualityGates, type SearchRequest, type SettingsHistoryRequest, type UpdateSettingsRequest,
} from "@taj/proto";
import { AppError, ALL_MODALITIES, parseBodyLocation, parseBodyLocationFilter, validateId, validateModelId } from "@taj/common";

/** Every input check of the public API lives here, one function per RPC. */

export interface Limits {
  maxImageBytes: number;
  maxCandidatesLimit: number;
  /**
   * The administrator's current defaults of a valid modality (settings/store.ts, followed from
   * etcd; throws UNAVAILABLE until loaded). A search's mode is resolved here, so the answer and
   * the audit say which ran.
   */
  settings: (modality: Modality) => ModalitySettings;
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
  /** The administrator's quality bars for the modality at the time of the call (settings/quality-gates.ts). */
  qualityGates: QualityGates | undefined;
  /** The models the image is extracted with, the first stored as the template ("": the extractor's default). */
  models: string[];
}

/** An ANSI/NIST-ITL transaction lists at most 999 records after its Type-1. */
const MAX_RECORD_IMAGE_INDEX = 998;

function validateRecordImageIndex(index: number | undefined): number | undefined {
  if (index !== undefined && index > MAX_RECORD_IMAGE_INDEX) throw invalid(`record_image_index must be at most ${MAX_RECORD_IMAGE_INDEX}`);
  return index;
}

export function validateEnroll(req: EnrollRequest, limits: Limits): ValidEnroll {
  const modality = validateModality(req.modality);
  const defaults = limits.settings(modality);
  return {
    modality,
    id: validateId(req.id),
    image: validateImage(req.image, limits),
    faceBox: validateBox(req.faceBox),
    bodyLocation: parseBodyLocation(modality, req.bodyLocation),
    recordImageIndex: validateRecordImageIndex(req.recordImageIndex),
    qualityGates: defaults.quality,
    models: defaults.enrolModelIds.length > 0 ? [...defaults.enrolModelIds] : [defaults.searchModelId],
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
  qualityGates: QualityGates | undefined;
  /** The model the probe is extracted with ("": the extractor's default). */
  modelId: string;
}

export function validateSearch(req: SearchRequest, limits: Limits): ValidSearch {
  const modality = validateModality(req.modality);
  const defaults = limits.settings(modality);
  const threshold = validateThreshold(req.similarityThreshold ?? defaults.similarityThreshold);
  // A gateway whose limit is below the cluster-wide default answers with its own limit.
  const maxCandidates = validateMaxCandidates(req.maxCandidates ?? Math.min(defaults.maxCandidates, limits.maxCandidatesLimit), limits);
  const caseRef = req.caseRef === "" && !limits.caseRefRequired ? "" : validateCaseRef(req.caseRef);
  const requested = req.mode === SearchMode.UNSPECIFIED ? defaults.searchMode : req.mode;
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
    qualityGates: defaults.quality,
    modelId: defaults.searchModelId,
  };
}

function validateThreshold(threshold: number): number {
  if (!(threshold >= -1 && threshold <= 1)) throw invalid("similarity_threshold must be between -1 and 1");
  return threshold;
}

function validateMaxCandidates(maxCandidates: number, limits: Pick<Limits, "maxCandidatesLimit">): number {
  if (!Number.isInteger(maxCandidates) || maxCandidates < 1 || maxCandidates > limits.maxCandidatesLimit) {
    throw invalid(`max_candidates must be between 1 and ${limits.maxCandidatesLimit}`);
  }
  return maxCandidates;
}

/** Bounds of the quality gates (settings.proto QualityGates): [min, max] and the modalities each applies to. */
const GATE_BOUNDS = {
  minDetectionScore: { max: 1, face: true },
  minInterOcularPx: { max: 4096, face: true },
  minRegionSidePx: { max: 16384, face: false },
  minContrast: { max: 0.5, face: false },
} as const;

/**
 * One modality's defaults, from an administrator or as read from etcd (where anyone with etcd
 * access could have written anything): every field in range, quality gates of the modality only.
 */
export function validateModalitySettings(settings: ModalitySettings | undefined, limits: Pick<Limits, "maxCandidatesLimit">): ModalitySettings {
  if (!settings) throw invalid("settings are required");
  const modality = validateModality(settings.modality);
  validateThreshold(settings.similarityThreshold);
  validateMaxCandidates(settings.maxCandidates, limits);
  if (settings.searchMode !== SearchMode.APPROXIMATE && settings.searchMode !== SearchMode.EXHAUSTIVE) throw invalid("search_mode must be APPROXIMATE or EXHAUSTIVE");
  const quality = settings.quality ?? create(QualityGatesSchema);
  for (const [field, bound] of Object.entries(GATE_BOUNDS) as [keyof typeof GATE_BOUNDS, (typeof GATE_BOUNDS)[keyof typeof GATE_BOUNDS]][]) {
    const value = quality[field];
    if (!(value >= 0 && value <= bound.max)) throw invalid(`quality.${field} must be between 0 and ${bound.max}`);
    if (value !== 0 && bound.face !== (modality === Modality.FACE)) throw invalid(`quality.${field} is ${bound.face ? "a FACE" : "a TATTOO and MARK"} gate: leave it 0 for ${Modality[modality]}`);
  }
  const searchModelId = validateModelId(settings.searchModelId, "search_model_id", true);
  const enrolModelIds = settings.enrolModelIds.map((m) => validateModelId(m, "enrol_model_ids", false));
  if (enrolModelIds.length > MAX_ENROL_MODELS || new Set(enrolModelIds).size !== enrolModelIds.length) {
    throw invalid(`enrol_model_ids must be at most ${MAX_ENROL_MODELS} distinct model ids`);
  }
  // Every enrolment must reach the model searched, or new records would be unfindable.
  if (enrolModelIds.length > 0 && !enrolModelIds.includes(searchModelId)) throw invalid("enrol_model_ids must include search_model_id (name it)");
  return create(ModalitySettingsSchema, { ...settings, modality, quality, searchModelId, enrolModelIds });
}

/** An upgrade enrols with the old and the new model; a third leaves room for a rollback window. */
const MAX_ENROL_MODELS = 3;

const REASON_MAX = 200;

export function validateUpdateSettings(req: UpdateSettingsRequest, limits: Pick<Limits, "maxCandidatesLimit">): { settings: ModalitySettings; expectedRevision: bigint; reason: string } {
  const settings = validateModalitySettings(req.settings, limits);
  if (req.expectedRevision === 0n) throw invalid("expected_revision is required: the revision GetSettings answered");
  return { settings, expectedRevision: req.expectedRevision, reason: validateReason(req.reason) };
}

const DROP_BATCH_DEFAULT = 1_000;
const DROP_BATCH_MAX = 10_000;

/** A model's drop: never of a model the modality still searches or enrols with. */
export function validateDropModel(req: DropModelTemplatesRequest, limits: Pick<Limits, "settings">): { modality: Modality; modelId: string; fromSequence: number; maxRecords: number; reason: string } {
  const modality = validateModality(req.modality);
  const modelId = validateModelId(req.modelId, "model_id", false);
  const settings = limits.settings(modality);
  if (modelId === settings.searchModelId || settings.enrolModelIds.includes(modelId)) {
    throw invalid("model_id is still the search model or an enrol model of the modality: switch the settings first");
  }
  if (req.maxRecords > DROP_BATCH_MAX) throw invalid(`max_records must be at most ${DROP_BATCH_MAX}`);
  return { modality, modelId, fromSequence: Math.max(1, Number(req.fromSequence)), maxRecords: req.maxRecords || DROP_BATCH_DEFAULT, reason: validateReason(req.reason) };
}

/** Why an administrator changes something, as the history and the audit trail keep it. */
function validateReason(text: string): string {
  const reason = text.trim();
  if (reason.length === 0 || reason.length > REASON_MAX || /\p{C}/u.test(reason)) {
    throw invalid(`reason must be 1 to ${REASON_MAX} printable characters, e.g. a change ticket`);
  }
  return reason;
}

const HISTORY_PAGE_DEFAULT = 50;
const HISTORY_PAGE_MAX = 1000;

export function validateSettingsHistory(req: SettingsHistoryRequest): { modality: Modality; beforeRevision: bigint; pageSize: number } {
  if (req.pageSize > HISTORY_PAGE_MAX) throw invalid(`page_size must be at most ${HISTORY_PAGE_MAX}`);
  return { modality: validateModality(req.modality), beforeRevision: req.beforeRevision, pageSize: req.pageSize || HISTORY_PAGE_DEFAULT };
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
