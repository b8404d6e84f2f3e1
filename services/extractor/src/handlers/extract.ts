import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, Modality, QualitySchema, RecordInfoSchema, StageTimingsSchema, type ExtractRequest, type ExtractResponseSchema } from "@taj/proto";
import { AppError, encodeTemplateF32, errorCodeName, type CallContext } from "@taj/common";
import type { Admission } from "../admission.ts";
import type { Extractor } from "../extractor.ts";
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
      const result = await admission.run(
        () => extractor.extract(request.modality, request.image, { faceBox, recordImageIndex: request.recordImageIndex, deadline: ctx.deadline, signal: ctx.signal }),
        ctx.deadline,
        ctx.signal,
      );
      metrics.observe(label, result.timings);
      const { box } = result.quality;
      return {
        templateF32: encodeTemplateF32(result.template),
        quality: create(QualitySchema, {
          box: { xPx: box.x, yPx: box.y, widthPx: box.width, heightPx: box.height },
          detectionScore: result.quality.detectionScore,
          interOcularPx: result.quality.interOcularPx,
          contrast: result.quality.contrast ?? 0,
          imageWidthPx: result.quality.imageWidth,
          imageHeightPx: result.quality.imageHeight,
        }),
        modelId: result.modelId,
        timings: create(StageTimingsSchema, result.timings),
        record: create(RecordInfoSchema, {
          format: result.record.format,
          imageEncoding: result.record.imageEncoding,
          bodyLocation: result.record.bodyLocation,
          eyePositionsUsed: result.record.eyePositionsUsed,
          imageIndex: result.record.imageIndex,
        }),
      };
    } catch (err) {
      metrics.error(label, errorCodeName(AppError.from(err).code));
      throw err;
    }
  };
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
