import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, FaceExtractionSchema, Modality, QualitySchema, RecordInfoSchema, StageTimingsSchema, type ExtractRequest, type ExtractResponseSchema, type Quality, type RecordInfo } from "@taj/proto";
import { AppError, MAX_FACES_PER_SEARCH, encodeTemplateF32, errorCodeName, errorDetailOf, validateModelId, type CallContext } from "@taj/common";
import type { Admission } from "../admission.ts";
import type { Extraction, Extractor } from "../extractor.ts";
import type { ExtractorMetrics } from "../metrics.ts";
import type { PixelBox } from "../pipeline.ts";

/** ExtractorService.Extract: validates the request, runs the modality's pipeline. */
export function extractHandler(extractor: Extractor, admission: Admission, metrics: ExtractorMetrics) {
  return async (request: ExtractRequest, ctx: CallContext): Promise<MessageInitShape<typeof ExtractResponseSchema>> => {
    const label = Modality[request.modality]?.toLowerCase() ?? "unknown";
    try {
      if (Date.now() >= ctx.deadline || ctx.signal.aborted) {
        throw new AppError(ErrorCode.DEADLINE_EXCEEDED, "the deadline expired before extraction started");
      }
      const faceBox = faceBoxOf(request);
      const options = {
        faceBox, recordImageIndex: request.recordImageIndex, modelId: validateModelId(request.modelId, "model_id", true), deadline: ctx.deadline, signal: ctx.signal,
      };
      if (request.everyFace) {
        const every = await admission.run(() => extractor.extractEvery(request.modality, request.image, MAX_FACES_PER_SEARCH, options), ctx.deadline, ctx.signal);
        metrics.observe(label, every.timings);
        const size = { imageWidth: every.imageWidth, imageHeight: every.imageHeight };
        return {
          faces: every.faces.map((face) => {
            const quality = qualityMessage({ ...face.quality, ...size });
            return create(FaceExtractionSchema, "error" in face ? { quality, error: errorDetailOf(face.error) } : { quality, templateF32: encodeTemplateF32(face.template) });
          }),
          facesFound: every.found,
          modelId: every.modelId,
          timings: create(StageTimingsSchema, every.timings),
          record: recordMessage(every.record),
        };
      }
      const result = await admission.run(() => extractor.extract(request.modality, request.image, options), ctx.deadline, ctx.signal);
      metrics.observe(label, result.timings);
      return {
        templateF32: encodeTemplateF32(result.template),
        quality: qualityMessage(result.quality),
        modelId: result.modelId,
        timings: create(StageTimingsSchema, result.timings),
        record: recordMessage(result.record),
      };
    } catch (err) {
      metrics.error(label, errorCodeName(AppError.from(err).code));
      throw err;
    }
  };
}

function qualityMessage(q: Extraction["quality"]): Quality {
  const { box } = q;
  return create(QualitySchema, {
    box: { xPx: box.x, yPx: box.y, widthPx: box.width, heightPx: box.height },
    detectionScore: q.detectionScore,
    interOcularPx: q.interOcularPx,
    contrast: q.contrast ?? 0,
    imageWidthPx: q.imageWidth,
    imageHeightPx: q.imageHeight,
  });
}

function recordMessage(r: Extraction["record"]): RecordInfo {
  return create(RecordInfoSchema, { format: r.format, imageEncoding: r.imageEncoding, bodyLocation: r.bodyLocation, eyePositionsUsed: r.eyePositionsUsed, imageIndex: r.imageIndex });
}

function faceBoxOf(request: ExtractRequest): PixelBox | undefined {
  const b = request.faceBox;
  if (b === undefined) return undefined;
  const values = [b.xPx, b.yPx, b.widthPx, b.heightPx];
  if (!values.every(Number.isFinite) || b.widthPx <= 0 || b.heightPx <= 0) {
    throw new AppError(ErrorCode.INVALID_ARGUMENT, "face_box needs finite coordinates and a positive width and height");
  }
  return { x: b.xPx, y: b.yPx, width: b.widthPx, height: b.heightPx };
}
