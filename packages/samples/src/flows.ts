import { ErrorCode, MatchingService, Modality, SearchMode, type Box, type SearchResponse } from "@taj/proto";
import { AppError, type ServiceClient } from "@taj/common";
import { nearestBox } from "./renderings.ts";
import type { SamplePhoto } from "./photos.ts";

export type MatchingClient = ServiceClient<typeof MatchingService.method>;

export interface EnrolledFace {
  id: string;
  photo: string;
  box: Box;
  bytes: Buffer;
  interOcularPx: number;
}

export interface RefusedFace {
  photo: string;
  box: Box | undefined;
  code: ErrorCode;
}

/**
 * Enrols every face of a photo the way an integrator would: ask once without a box, and when
 * the API answers MULTIPLE_FACES, enrol each face it listed by sending its box back.
 */
export async function enrollAllFaces(
  client: MatchingClient,
  photo: SamplePhoto,
  idOf: (faceIndex: number) => string,
  timeoutMs = 30_000,
): Promise<{ enrolled: EnrolledFace[]; refused: RefusedFace[] }> {
  const enrolled: EnrolledFace[] = [];
  const refused: RefusedFace[] = [];
  let faces: Box[];
  try {
    const res = await client.enroll({ modality: Modality.FACE, id: idOf(0), image: photo.bytes }, { timeoutMs });
    if (!res.quality?.box) throw new Error("enroll answered without a face box");
    const face = { id: idOf(0), photo: photo.name, box: res.quality.box, bytes: photo.bytes, interOcularPx: res.quality.interOcularPx };
    return { enrolled: [face], refused };
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== ErrorCode.MULTIPLE_FACES) throw err;
    faces = err.faces;
  }
  for (const [i, box] of faces.entries()) {
    const id = idOf(i);
    try {
      const res = await client.enroll({ modality: Modality.FACE, id, image: photo.bytes, faceBox: box }, { timeoutMs });
      enrolled.push({ id, photo: photo.name, box, bytes: photo.bytes, interOcularPx: res.quality?.interOcularPx ?? 0 });
    } catch (err) {
      if (!(err instanceof AppError) || err.code === ErrorCode.UNAVAILABLE || err.code === ErrorCode.INTERNAL) throw err;
      refused.push({ photo: photo.name, box, code: err.code });
    }
  }
  return { enrolled, refused };
}

export interface ProbeOptions {
  threshold?: number;
  maxCandidates?: number;
  mode?: SearchMode;
  caseRef?: string;
  timeoutMs?: number;
}

/**
 * Searches with an image; when it holds several faces, picks the one nearest to `faceCentre`
 * from the MULTIPLE_FACES answer, as an investigator would click on it.
 */
export async function searchFace(
  client: MatchingClient,
  image: Buffer,
  faceCentre: { x: number; y: number } | undefined,
  options: ProbeOptions = {},
): Promise<SearchResponse> {
  const request = {
    modality: Modality.FACE,
    image,
    caseRef: options.caseRef ?? "DEMO-CASE-1",
    mode: options.mode ?? SearchMode.UNSPECIFIED,
    ...(options.threshold === undefined ? {} : { similarityThreshold: options.threshold }),
    ...(options.maxCandidates === undefined ? {} : { maxCandidates: options.maxCandidates }),
  };
  const callOptions = { timeoutMs: options.timeoutMs ?? 30_000 };
  try {
    return await client.search(request, callOptions);
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== ErrorCode.MULTIPLE_FACES || !faceCentre) throw err;
    const box = nearestBox(err.faces, faceCentre);
    return client.search({ ...request, faceBox: box }, callOptions);
  }
}
