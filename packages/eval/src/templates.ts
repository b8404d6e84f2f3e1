import { ErrorCode, ExtractorService, type Box, type Modality } from "@taj/proto";
import { AppError, channelCredentials, createClient, errorCodeName, wireTemplate, type TlsFiles } from "@taj/common";
import { ExtractorEnv, Extractor, loadModalities } from "@taj/extractor";

/** Turns image bytes into a template, optionally for the face in `box`. Errors are AppErrors. */
export interface TemplateSource {
  readonly description: string;
  /** How many images to extract at once. */
  readonly concurrency: number;
  extract(modality: Modality, bytes: Uint8Array, box?: Box): Promise<{ template: Float32Array; modelId: string }>;
  close(): void;
}

/**
 * The extractor service's own code in this process, configured as the service would be from
 * the same environment variables (MODALITIES_CONFIG, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, ORT_THREADS).
 */
export async function inProcessSource(env: NodeJS.ProcessEnv = process.env): Promise<TemplateSource> {
  // Only the pipeline's settings: no port is opened here, so no TLS files are needed.
  const config = ExtractorEnv.pick({ MODALITIES_CONFIG: true, MAX_IMAGE_BYTES: true, MAX_IMAGE_PIXELS: true, ORT_THREADS: true }).parse(env);
  const extractor = await Extractor.create(
    loadModalities(config.MODALITIES_CONFIG),
    { maxBytes: config.MAX_IMAGE_BYTES, maxPixels: config.MAX_IMAGE_PIXELS },
    config.ORT_THREADS,
  );
  return {
    description: "in-process extractor",
    concurrency: 1,
    async extract(modality, bytes, box) {
      const faceBox = box && { x: box.xPx, y: box.yPx, width: box.widthPx, height: box.heightPx };
      const r = await extractor.extract(modality, bytes, { faceBox });
      return { template: r.template, modelId: r.modelId };
    },
    close() {},
  };
}

/** A running extractor service (ExtractorService.Extract over gRPC). */
/** tls: an operator (admin) certificate of the cluster's CA: extractors admit only gateways and admins. */
export function grpcSource(address: string, tls: TlsFiles, timeoutMs = 30_000): TemplateSource {
  const client = createClient(ExtractorService, address, channelCredentials(tls));
  return {
    description: `extractor at ${address}`,
    concurrency: 4,
    async extract(modality, bytes, box) {
      try {
        const r = await client.extract({ modality, image: bytes, ...(box === undefined ? {} : { faceBox: box }) }, { timeoutMs });
        return { template: Float32Array.from(wireTemplate(r, ErrorCode.INTERNAL)), modelId: r.modelId };
      } catch (err) {
        const e = AppError.from(err);
        if (e.code === ErrorCode.UNAVAILABLE) throw new AppError(e.code, `the extractor at ${address} is unavailable`, { cause: err });
        throw e;
      }
    },
    close: () => client.close(),
  };
}

export type Extracted =
  | { ok: true; template: Float32Array; modelId: string; facesFound: number; chosenBox?: Box }
  | { ok: false; code: string; message: string };

const area = (b: Box) => b.widthPx * b.heightPx;

/** Detections this close to the most confident one count as equally sure; size then decides. */
const CONFIDENCE_TIE = 0.02;

/**
 * The face an operator enrolling a portrait would take from a MULTIPLE_FACES answer: the most
 * confident, and among those as sure as it (within CONFIDENCE_TIE) the largest. By size alone a
 * large background box (0.962) had won over the real face (1.000). Without scores (an older
 * extractor), the largest.
 */
export function chooseFace(faces: readonly Box[], scores: readonly number[]): Box | undefined {
  const scored = faces.map((box, i) => ({ box, score: scores.length === faces.length ? scores[i]! : 1 }));
  const best = Math.max(...scored.map((f) => f.score));
  const sure = scored.filter((f) => f.score >= best - CONFIDENCE_TIE);
  return sure.reduce<(typeof sure)[number] | undefined>((a, b) => (a === undefined || area(b.box) > area(a.box) ? b : a), undefined)?.box;
}

/**
 * One template per image, of `region` when given (a tattoo's or mark's box, as an investigator
 * would draw it). When the image holds several faces, chooseFace's (the most confident, then the
 * largest) is taken, as an operator enrolling a portrait would, and the count of faces is kept.
 */
export async function extractOne(source: TemplateSource, modality: Modality, bytes: Uint8Array, region?: Box): Promise<Extracted> {
  try {
    try {
      return { ok: true, ...(await source.extract(modality, bytes, region)), facesFound: 1, ...(region === undefined ? {} : { chosenBox: region }) };
    } catch (err) {
      const e = AppError.from(err);
      const chosen = e.code === ErrorCode.MULTIPLE_FACES ? chooseFace(e.faces, e.faceDetectionScores) : undefined;
      if (chosen === undefined) throw e;
      return { ok: true, ...(await source.extract(modality, bytes, chosen)), facesFound: e.faces.length, chosenBox: chosen };
    }
  } catch (err) {
    const e = AppError.from(err);
    // These say nothing about the image (no extractor, or none for this modality): the run must
    // stop rather than count every image as a failure to enrol.
    if (e.code === ErrorCode.UNAVAILABLE || e.code === ErrorCode.DEADLINE_EXCEEDED || e.code === ErrorCode.UNSUPPORTED_MODALITY) throw e;
    return { ok: false, code: errorCodeName(e.code), message: e.message };
  }
}
