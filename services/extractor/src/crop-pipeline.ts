import sharp from "sharp";
import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { RgbImage } from "./decode.ts";
import { Embedder } from "./embedder.ts";
import type { CropPipelineConfig } from "./pipeline-config.ts";
import { timed, type ExtractionHints, type PixelBox, type Pipeline, type PipelineResult, type StageGuard, type StageTimings } from "./pipeline.ts";
import { lumaContrast } from "./contrast.ts";

/**
 * For modalities with no detector (tattoo, mark): the caller's box clipped to the image, else the
 * whole image or its central square, resized to the model input, then a quality gate on the
 * region's size and contrast before anything is embedded.
 */
export class CropPipeline implements Pipeline {
  readonly modelId: string;

  private constructor(
    private readonly config: CropPipelineConfig,
    private readonly embedder: Embedder,
  ) {
    this.modelId = config.modelId;
  }

  static async load(config: CropPipelineConfig, threads: number): Promise<CropPipeline> {
    return new CropPipeline(config, await Embedder.load(config.embedder, threads));
  }

  async extract(image: RgbImage, { faceBox }: ExtractionHints, timings: StageTimings, guard: StageGuard): Promise<PipelineResult> {
    const region = faceBox === undefined ? this.defaultRegion(image) : clipToImage(faceBox, image);
    const { minRegionSidePx, minContrast } = this.config.quality;
    if (Math.min(region.width, region.height) < minRegionSidePx) {
      throw new AppError(
        ErrorCode.REGION_TOO_SMALL,
        `the region is ${region.width}x${region.height} pixels; at least ${minRegionSidePx} pixels on each side are needed`,
      );
    }
    guard();
    const { width, height } = this.embedder;
    // Antialiased resampling by libvips: a 12 MP photo squeezed to 299 px by plain bilinear
    // sampling would alias fine ink lines into noise.
    const input = await timed(timings, "embedMs", () =>
      sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
        .extract({ left: region.x, top: region.y, width: region.width, height: region.height })
        .resize(width, height, { fit: "fill" })
        .raw()
        .toBuffer(),
    );
    const contrast = lumaContrast(input);
    if (contrast < minContrast) {
      throw new AppError(
        ErrorCode.IMAGE_NEAR_UNIFORM,
        `the region has almost no contrast (${contrast.toFixed(3)} of full scale, at least ${minContrast} is needed)`,
      );
    }
    guard();
    const template = await timed(timings, "embedMs", () => this.embedder.embed(input));
    return { template, quality: { box: region, detectionScore: 0, interOcularPx: 0, contrast } };
  }

  private defaultRegion(image: RgbImage): PixelBox {
    if (this.config.alignment.method === "whole-image") return { x: 0, y: 0, width: image.width, height: image.height };
    const side = Math.min(image.width, image.height);
    return { x: Math.floor((image.width - side) / 2), y: Math.floor((image.height - side) / 2), width: side, height: side };
  }
}

/** The caller's box in whole pixels, cut to the image; a box wholly outside it is refused. */
function clipToImage(box: PixelBox, image: RgbImage): PixelBox {
  const x1 = Math.max(0, Math.floor(box.x));
  const y1 = Math.max(0, Math.floor(box.y));
  const x2 = Math.min(image.width, Math.ceil(box.x + box.width));
  const y2 = Math.min(image.height, Math.ceil(box.y + box.height));
  if (x2 <= x1 || y2 <= y1) {
    throw new AppError(ErrorCode.INVALID_ARGUMENT, `face_box lies outside the ${image.width}x${image.height} image`);
  }
  return { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
}
