import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  BoxSchema, DeleteRequestSchema, EnrollRequestSchema, ErrorCode, GetRequestSchema, Modality, ModalitySettingsSchema, SearchMode, SearchRequestSchema,
  SettingsHistoryRequestSchema, UpdateSettingsRequestSchema, type ModalitySettings,
} from "@taj/proto";
import { AppError, ALL_MODALITIES } from "@taj/common";
import {
  imageTooLarge, validateCaseRef, validateDelete, validateEnroll, validateGet, validateModalitySettings, validateSearch, validateSettingsHistory,
  validateUpdateSettings, type Limits,
} from "../src/validation.ts";
import { REQUEST_ENVELOPE_BYTES, maxRequestBytes } from "../src/config.ts";

const defaults = new Map<Modality, ModalitySettings>([
  [Modality.FACE, create(ModalitySettingsSchema, { modality: Modality.FACE, similarityThreshold: 0.4, maxCandidates: 20, searchMode: SearchMode.EXHAUSTIVE })],
  [Modality.TATTOO, create(ModalitySettingsSchema, { modality: Modality.TATTOO, similarityThreshold: 0.5, maxCandidates: 20, searchMode: SearchMode.EXHAUSTIVE })],
  [Modality.MARK, create(ModalitySettingsSchema, { modality: Modality.MARK, similarityThreshold: 0.6, maxCandidates: 20, searchMode: SearchMode.APPROXIMATE })],
]);
const limits: Limits = {
  maxImageBytes: 1000,
  maxCandidatesLimit: 200,
  settings: (m) => defaults.get(m)!,
  caseRefRequired: true,
};
const image = new Uint8Array([1, 2, 3]);
const enrollOk = { modality: Modality.FACE, id: "rec_1", image };
const searchOk = { modality: Modality.FACE, image, caseRef: "2026/000123" };

function rejects(fn: () => unknown, code: ErrorCode): void {
  assert.throws(fn, (err: unknown) => err instanceof AppError && err.code === code, `expected ${ErrorCode[code]}`);
}

test("enroll: every bad input has its own code", () => {
  const enroll = (patch: object) => validateEnroll(create(EnrollRequestSchema, { ...enrollOk, ...patch }), limits);
  assert.equal(enroll({}).id, "rec_1");
  rejects(() => enroll({ modality: Modality.UNSPECIFIED }), ErrorCode.UNSUPPORTED_MODALITY);
  rejects(() => enroll({ modality: 99 }), ErrorCode.UNSUPPORTED_MODALITY);
  for (const id of ["", "a".repeat(65), "has space", "dot.dot", "star*", "é"]) rejects(() => enroll({ id }), ErrorCode.INVALID_ID);
  rejects(() => enroll({ image: new Uint8Array() }), ErrorCode.IMAGE_EMPTY);
  rejects(() => enroll({ image: new Uint8Array(1001) }), ErrorCode.IMAGE_TOO_LARGE);
  assert.equal(enroll({ image: new Uint8Array(1000) }).image.length, 1000);
  for (const box of [
    { xPx: -1, yPx: 0, widthPx: 10, heightPx: 10 },
    { xPx: 0, yPx: 0, widthPx: 0, heightPx: 10 },
    { xPx: 0, yPx: 0, widthPx: 10, heightPx: Number.NaN },
  ]) {
    rejects(() => enroll({ faceBox: create(BoxSchema, box) }), ErrorCode.INVALID_ARGUMENT);
  }
});

test("search: defaults come from the modality and the limits", () => {
  const v = validateSearch(create(SearchRequestSchema, { ...searchOk, modality: Modality.MARK }), limits);
  assert.equal(v.threshold, 0.6);
  assert.equal(v.maxCandidates, 20);
  assert.equal(v.mode, SearchMode.APPROXIMATE, "the modality's default mode, resolved here: never UNSPECIFIED downstream");
  const w = validateSearch(create(SearchRequestSchema, { ...searchOk, similarityThreshold: 0, maxCandidates: 200 }), limits);
  assert.equal(w.mode, SearchMode.EXHAUSTIVE, "face's default");
  assert.equal(validateSearch(create(SearchRequestSchema, { ...searchOk, modality: Modality.MARK, mode: SearchMode.EXHAUSTIVE }), limits).mode, SearchMode.EXHAUSTIVE, "the request's own mode wins");
  assert.equal(w.threshold, 0, "an explicit 0 is not replaced by the default");
  assert.equal(w.maxCandidates, 200);
});

test("search: a default above this gateway's own limit is cut to the limit, a request above it refused", () => {
  const lower = { ...limits, maxCandidatesLimit: 10 };
  assert.equal(validateSearch(create(SearchRequestSchema, searchOk), lower).maxCandidates, 10);
  rejects(() => validateSearch(create(SearchRequestSchema, { ...searchOk, maxCandidates: 11 }), lower), ErrorCode.INVALID_ARGUMENT);
});

test("settings: every field in range, quality gates of the modality only, a reason and a revision required", () => {
  const face = { modality: Modality.FACE, similarityThreshold: 0.45, maxCandidates: 50, searchMode: SearchMode.APPROXIMATE, quality: { minDetectionScore: 0.9, minInterOcularPx: 40 } };
  const update = (settings: object, rest: object = {}) =>
    validateUpdateSettings(create(UpdateSettingsRequestSchema, { settings, expectedRevision: 3n, reason: "CHG-2026-114", ...rest }), limits);
  const ok = update(face);
  assert.equal(ok.settings.quality?.minInterOcularPx, 40);
  assert.equal(ok.expectedRevision, 3n);
  assert.equal(update({ ...face, quality: undefined }).settings.quality?.minDetectionScore, 0, "no gates given: all 0");
  const tattoo = { modality: Modality.TATTOO, similarityThreshold: 0.97, maxCandidates: 20, searchMode: SearchMode.EXHAUSTIVE, quality: { minRegionSidePx: 96, minContrast: 0.01 } };
  assert.equal(update(tattoo).settings.quality?.minRegionSidePx, 96);
  rejects(() => update({ ...face, modality: Modality.UNSPECIFIED }), ErrorCode.UNSUPPORTED_MODALITY);
  for (const bad of [
    { similarityThreshold: 1.5 }, { similarityThreshold: Number.NaN }, { maxCandidates: 0 }, { maxCandidates: 201 }, { searchMode: SearchMode.UNSPECIFIED },
    { quality: { minDetectionScore: 1.2 } }, { quality: { minInterOcularPx: -1 } }, { quality: { minInterOcularPx: 5000 } },
    { quality: { minRegionSidePx: 64 } }, { quality: { minContrast: 0.01 } },
  ]) rejects(() => update({ ...face, ...bad }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => update({ ...tattoo, quality: { minDetectionScore: 0.9 } }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => update({ ...tattoo, quality: { minContrast: 0.6 } }), ErrorCode.INVALID_ARGUMENT);
  for (const reason of ["", "   ", "x".repeat(201), "line\nbreak", "tab\there"]) rejects(() => update(face, { reason }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => update(face, { expectedRevision: 0n }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => validateUpdateSettings(create(UpdateSettingsRequestSchema, { expectedRevision: 1n, reason: "r" }), limits), ErrorCode.INVALID_ARGUMENT);
  // Model upgrade: the searched model must be among those every enrolment extracts.
  const upgrade = update({ ...face, searchModelId: "m/v1", enrolModelIds: ["m/v1", "m/v2"] });
  assert.deepEqual(upgrade.settings.enrolModelIds, ["m/v1", "m/v2"]);
  for (const bad of [
    { searchModelId: "m/v3", enrolModelIds: ["m/v1", "m/v2"] }, { searchModelId: "", enrolModelIds: ["m/v1"] }, { enrolModelIds: ["m/v1", "m/v1"], searchModelId: "m/v1" },
    { searchModelId: "has space" }, { searchModelId: "x".repeat(129) }, { searchModelId: "a", enrolModelIds: ["a", "b", "c", "d"] },
  ]) rejects(() => update({ ...face, ...bad }), ErrorCode.INVALID_ARGUMENT);
  const enrolWith = (enrolModelIds: string[], searchModelId: string) =>
    validateEnroll(create(EnrollRequestSchema, enrollOk), { ...limits, settings: (m) => create(ModalitySettingsSchema, { ...defaults.get(m)!, enrolModelIds, searchModelId }) });
  assert.deepEqual(enrolWith([], "").models, [""], "no upgrade: the extractor's default model");
  assert.deepEqual(enrolWith(["m/v1", "m/v2"], "m/v1").models, ["m/v1", "m/v2"]);
  // What etcd holds is checked against the cluster-wide ceiling, not this gateway's limit.
  assert.equal(validateModalitySettings(create(ModalitySettingsSchema, { ...face, maxCandidates: 900 }), { maxCandidatesLimit: 1000 }).maxCandidates, 900);
});

test("settings history: modality required, page size bounded", () => {
  const history = (patch: object) => validateSettingsHistory(create(SettingsHistoryRequestSchema, { modality: Modality.FACE, ...patch }));
  assert.equal(history({}).pageSize, 50);
  assert.equal(history({ pageSize: 1000, beforeRevision: 7n }).beforeRevision, 7n);
  rejects(() => history({ pageSize: 1001 }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => history({ modality: Modality.UNSPECIFIED }), ErrorCode.UNSUPPORTED_MODALITY);
});

test("search: every bad input has its own code", () => {
  const search = (patch: object) => validateSearch(create(SearchRequestSchema, { ...searchOk, ...patch }), limits);
  rejects(() => search({ modality: Modality.UNSPECIFIED }), ErrorCode.UNSUPPORTED_MODALITY);
  for (const t of [-1.01, 1.01, Number.NaN, Infinity]) rejects(() => search({ similarityThreshold: t }), ErrorCode.INVALID_ARGUMENT);
  assert.equal(search({ similarityThreshold: -1 }).threshold, -1);
  assert.equal(search({ similarityThreshold: 1 }).threshold, 1);
  for (const m of [0, 201]) rejects(() => search({ maxCandidates: m }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => search({ caseRef: "" }), ErrorCode.CASE_REF_REQUIRED);
  rejects(() => search({ caseRef: "x".repeat(65) }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => search({ caseRef: "line\nbreak" }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => search({ caseRef: "PV n°12/2026 – Lyon" }), ErrorCode.INVALID_ARGUMENT);
  assert.equal(search({ caseRef: "x".repeat(64) }).caseRef, "x".repeat(64));
  rejects(() => search({ mode: 7 }), ErrorCode.INVALID_ARGUMENT);
  rejects(() => search({ image: new Uint8Array() }), ErrorCode.IMAGE_EMPTY);
  rejects(() => search({ image: new Uint8Array(1001) }), ErrorCode.IMAGE_TOO_LARGE);
  rejects(() => search({ faceBox: create(BoxSchema, { widthPx: -5, heightPx: 3 }) }), ErrorCode.INVALID_ARGUMENT);
});

test("enroll: body_location is optional, checked by the common SMT list, canonical, and refused for FACE", () => {
  const enroll = (patch: object) => validateEnroll(create(EnrollRequestSchema, { ...enrollOk, ...patch }), limits);
  assert.equal(enroll({}).bodyLocation, "", "none given: none stored");
  assert.equal(enroll({ modality: Modality.TATTOO, bodyLocation: " l arm" }).bodyLocation, "L ARM");
  assert.equal(enroll({ modality: Modality.MARK, bodyLocation: "CHEST" }).bodyLocation, "CHEST");
  rejects(() => enroll({ bodyLocation: "L ARM" }), ErrorCode.INVALID_BODY_LOCATION);
  rejects(() => enroll({ modality: Modality.TATTOO, bodyLocation: "ELBOW OF BOB" }), ErrorCode.INVALID_BODY_LOCATION);
});

test("search: body_locations are checked, deduplicated, and make the search EXHAUSTIVE", () => {
  const search = (patch: object) => validateSearch(create(SearchRequestSchema, { ...searchOk, ...patch }), limits);
  assert.deepEqual(search({}).bodyLocations, []);
  const filtered = search({ modality: Modality.MARK, bodyLocations: ["L ARM", "r arm", "L ARM"] });
  assert.deepEqual(filtered.bodyLocations, ["L ARM", "R ARM"]);
  assert.equal(filtered.mode, SearchMode.EXHAUSTIVE, "MARK defaults to APPROXIMATE here, but a filtered search is scanned exactly");
  assert.equal(search({ modality: Modality.TATTOO, mode: SearchMode.APPROXIMATE, bodyLocations: ["BACK"] }).mode, SearchMode.EXHAUSTIVE);
  assert.equal(search({ modality: Modality.MARK }).mode, SearchMode.APPROXIMATE, "no filter: the default still applies");
  rejects(() => search({ bodyLocations: ["L ARM"] }), ErrorCode.INVALID_BODY_LOCATION);
  rejects(() => search({ modality: Modality.TATTOO, bodyLocations: ["NOWHERE"] }), ErrorCode.INVALID_BODY_LOCATION);
});

test("delete: UNSPECIFIED means every modality; ids are checked", () => {
  assert.deepEqual(validateDelete(create(DeleteRequestSchema, { id: "x" })).modalities, ALL_MODALITIES);
  assert.deepEqual(validateDelete(create(DeleteRequestSchema, { id: "x", modality: Modality.TATTOO })).modalities, [Modality.TATTOO]);
  rejects(() => validateDelete(create(DeleteRequestSchema, { id: "x", modality: 42 as Modality })), ErrorCode.UNSUPPORTED_MODALITY);
  rejects(() => validateDelete(create(DeleteRequestSchema, { id: "../x" })), ErrorCode.INVALID_ID);
});

test("get: modality required, id checked", () => {
  assert.deepEqual(validateGet(create(GetRequestSchema, { id: "x", modality: Modality.FACE })), { modality: Modality.FACE, id: "x" });
  rejects(() => validateGet(create(GetRequestSchema, { id: "x" })), ErrorCode.UNSUPPORTED_MODALITY);
  rejects(() => validateGet(create(GetRequestSchema, { id: "", modality: Modality.FACE })), ErrorCode.INVALID_ID);
});

test("case_ref: 1-64 of [A-Za-z0-9_./-], required unless the administrator made it optional", () => {
  for (const ok of ["2026/000123", "PV-12.2026_Lyon", "a", "x".repeat(64)]) assert.equal(validateCaseRef(ok), ok);
  rejects(() => validateCaseRef(""), ErrorCode.CASE_REF_REQUIRED);
  for (const bad of ["x".repeat(65), "has space", "nul\u0000", "quote'", "é", "a\nb", "{json}"]) rejects(() => validateCaseRef(bad), ErrorCode.INVALID_ARGUMENT);
  const optional = { ...limits, caseRefRequired: false };
  const search = (caseRef: string) => validateSearch(create(SearchRequestSchema, { ...searchOk, caseRef }), optional);
  assert.equal(search("").caseRef, "");
  rejects(() => search("bad ref"), ErrorCode.INVALID_ARGUMENT);
});

test("the transport limit sits just above the image limit, and both refusals say the same", () => {
  assert.equal(maxRequestBytes({ MAX_IMAGE_BYTES: 1000 }), 1000 + REQUEST_ENVELOPE_BYTES);
  // An image of MAX_IMAGE_BYTES with the longest id, case_ref and a box fits the envelope many times over.
  const longest = create(SearchRequestSchema, { ...searchOk, image: new Uint8Array(1000), caseRef: "C".repeat(128), faceBox: { xPx: 1, yPx: 1, widthPx: 1, heightPx: 1 }, maxCandidates: 200, similarityThreshold: 0.5 });
  const enrol = create(EnrollRequestSchema, { ...enrollOk, id: "x".repeat(64), image: new Uint8Array(1000), faceBox: { xPx: 1, yPx: 1, widthPx: 1, heightPx: 1 } });
  for (const size of [toBinary(SearchRequestSchema, longest).length, toBinary(EnrollRequestSchema, enrol).length]) {
    assert.ok(size - 1000 < REQUEST_ENVELOPE_BYTES / 100, `${size - 1000} bytes of envelope`);
  }
  let handlerMessage = "";
  try {
    validateEnroll(create(EnrollRequestSchema, { ...enrollOk, image: new Uint8Array(1001) }), limits);
  } catch (err) {
    handlerMessage = (err as AppError).message;
  }
  assert.equal(imageTooLarge(1000).message, handlerMessage);
  assert.equal(imageTooLarge(1000).code, ErrorCode.IMAGE_TOO_LARGE);
});
