import type { RgbImage } from "./decode.ts";
import { Embedder } from "./embedder.ts";
import { warpAffine, type Affine } from "./geometry.ts";
import type { CropPipelineConfig } from "./pipeline-config.ts";
import { timed, type PixelBox, type Pipeline, type PipelineResult, type StageGuard, type StageTimings } from "./pipeline.ts";

/**
 * For modalities with no detector (tattoo, mark): the caller's box, else the whole image or
 * its central square, resized to the model input.
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

  async extract(image: RgbImage, box: PixelBox | undefined, timings: StageTimings, guard: StageGuard): Promise<PipelineResult> {
    const region = box ?? this.defaultRegion(image);
    guard();
    const { width, height } = this.embedder;
    const sx = width / region.width, sy = height / region.height;
    const toCrop: Affine = [sx, 0, -region.x * sx, 0, sy, -region.y * sy];
    const template = await timed(timings, "embedMs", () => this.embedder.embed(warpAffine(image, toCrop, width, height)));
    return { template, quality: { box: region, detectionScore: 0, interOcularPx: 0 } };
  }

  private defaultRegion(image: RgbImage): PixelBox {
    if (this.config.alignment.method === "whole-image") return { x: 0, y: 0, width: image.width, height: image.height };
    const side = Math.min(image.width, image.height);
    return { x: (image.width - side) / 2, y: (image.height - side) / 2, width: side, height: side };
  }
}
