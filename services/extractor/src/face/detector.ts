import sharp from "sharp";
import type { RgbImage } from "../decode.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import { loadModel, outputData, run, toInputTensor, type ModelSession } from "../tensor.ts";
import { fuse, nms, type Detection, type Rect } from "./boxes.ts";

type DetectorConfig = FacePipelineConfig["detector"];

/** A part of the image the detector looks at, and which of its edges are inside the image. */
interface Region extends Rect {
  innerEdges: { left: boolean; top: boolean; right: boolean; bottom: boolean };
}

/** The image the detector passes cut their regions from: `scaleX` by `scaleY` full pixels per pixel. */
interface ReducedImage extends RgbImage {
  scaleX: number;
  scaleY: number;
}

/**
 * Face detector (a RetinaFace-like net with decoded, normalised boxes). The whole image is
 * squeezed to the model input, and large images are also scanned in overlapping tiles so that
 * faces a few dozen pixels wide in a group photo are not lost.
 */
export class FaceDetector {
  private constructor(
    private readonly model: ModelSession,
    private readonly config: DetectorConfig,
  ) {}

  static async load(config: DetectorConfig, threads: number): Promise<FaceDetector> {
    return new FaceDetector(await loadModel(config.model, threads), config);
  }

  async detect(image: RgbImage): Promise<Detection[]> {
    const regions = this.regions(image.width, image.height);
    const reduced = await this.reduce(image, regions);
    const found: Detection[] = [];
    for (const region of regions) {
      found.push(...(await this.detectIn(reduced, region)));
    }
    return fuse(found, this.config.nmsIou);
  }

  /**
   * No pass looks at the image finer than its finest region's scale (image pixels per detector
   * pixel), so the image is shrunk by that much once. Cutting and resizing ten regions out of a
   * 1920 px buffer took ~45 ms, about what the ten detector runs take; one in-memory shrink costs
   * ~9 ms, less than decoding the bytes again with shrink-on-load (~40 ms). The full image stays
   * untouched for the landmark and embedding crops.
   */
  private async reduce(image: RgbImage, regions: readonly Region[]): Promise<ReducedImage> {
    const { width: inW, height: inH } = this.config;
    const finest = Math.min(...regions.map((r) => Math.min((r.x2 - r.x1) / inW, (r.y2 - r.y1) / inH)));
    if (finest < this.config.minReduction) return { ...image, scaleX: 1, scaleY: 1 };
    const width = Math.max(1, Math.round(image.width / finest)), height = Math.max(1, Math.round(image.height / finest));
    const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(width, height, { fit: "fill" })
      .raw()
      .toBuffer();
    return { width, height, data, scaleX: image.width / width, scaleY: image.height / height };
  }

  /** The whole image, plus a grid of overlapping tiles when the image is much larger than the input. */
  regions(width: number, height: number): Region[] {
    const none = { left: false, top: false, right: false, bottom: false };
    const regions: Region[] = [{ x1: 0, y1: 0, x2: width, y2: height, innerEdges: none }];
    const { maxTileScale, tileOverlap, maxTiles } = this.config;
    if (maxTileScale <= 0) return regions;
    const starts = (size: number, tile: number): number[] => {
      if (size <= tile) return [0];
      const n = Math.ceil((size - tile) / (tile * (1 - tileOverlap))) + 1;
      return Array.from({ length: n }, (_, i) => Math.round(((size - tile) * i) / (n - 1)));
    };
    // Very large images get coarser tiles rather than an unbounded number of detector runs.
    let scale = maxTileScale;
    let tileW: number, tileH: number;
    do {
      tileW = Math.min(width, Math.round(this.config.width * scale));
      tileH = Math.min(height, Math.round(this.config.height * scale));
      scale *= 1.25;
    } while (starts(width, tileW).length * starts(height, tileH).length > maxTiles);
    if (width <= tileW * 1.25 && height <= tileH * 1.25) return regions;
    for (const y of starts(height, tileH)) {
      for (const x of starts(width, tileW)) {
        const x2 = Math.min(width, x + tileW), y2 = Math.min(height, y + tileH);
        regions.push({ x1: x, y1: y, x2, y2, innerEdges: { left: x > 0, top: y > 0, right: x2 < width, bottom: y2 < height } });
      }
    }
    return regions;
  }

  private async detectIn(image: ReducedImage, region: Region): Promise<Detection[]> {
    const { width: inW, height: inH } = this.config;
    // The region in reduced pixels, and the part of the full image those pixels cover.
    const left = Math.min(image.width - 1, Math.round(region.x1 / image.scaleX));
    const top = Math.min(image.height - 1, Math.round(region.y1 / image.scaleY));
    const cutW = Math.max(1, Math.min(image.width, Math.round(region.x2 / image.scaleX)) - left);
    const cutH = Math.max(1, Math.min(image.height, Math.round(region.y2 / image.scaleY)) - top);
    const x1 = left * image.scaleX, y1 = top * image.scaleY;
    const regionW = cutW * image.scaleX, regionH = cutH * image.scaleY;
    const pixels = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .extract({ left, top, width: cutW, height: cutH })
      .resize(inW, inH, { fit: "fill" })
      .raw()
      .toBuffer();
    const outputs = await run(this.model, toInputTensor(pixels, inW, inH, this.config));
    const scores = outputData(outputs, "scores");
    const boxes = outputData(outputs, "boxes");
    const count = scores.length / 2;
    // A face cut by a tile edge inside the image is seen whole by the overlapping tile or the full pass.
    const margin = 0.01;
    const found: Detection[] = [];
    for (let i = 0; i < count; i++) {
      const score = scores[i * 2 + 1]!;
      if (score < this.config.scoreThreshold) continue;
      const nx1 = boxes[i * 4]!, ny1 = boxes[i * 4 + 1]!, nx2 = boxes[i * 4 + 2]!, ny2 = boxes[i * 4 + 3]!;
      if (!(nx2 > nx1 && ny2 > ny1)) continue;
      const e = region.innerEdges;
      // Tiles are there for small faces; a large one is seen whole by the full-image pass, and
      // large boxes in a zoomed-in tile are mostly false alarms on clothing or skin.
      const isTile = e.left || e.top || e.right || e.bottom;
      if (isTile && ny2 - ny1 > this.config.tileMaxFaceFraction) continue;
      if ((e.left && nx1 < margin) || (e.top && ny1 < margin) || (e.right && nx2 > 1 - margin) || (e.bottom && ny2 > 1 - margin)) continue;
      found.push({
        x1: x1 + nx1 * regionW,
        y1: y1 + ny1 * regionH,
        x2: x1 + nx2 * regionW,
        y2: y1 + ny2 * regionH,
        score,
      });
    }
    return nms(found, this.config.nmsIou);
  }
}
