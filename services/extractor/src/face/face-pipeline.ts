import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { RgbImage } from "../decode.ts";
import { Embedder } from "../embedder.ts";
import { affineFromThreePoints, similarityTransform, warpAffine, type Affine, type Point } from "../geometry.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import { timed, type ExtractionHints, type PixelBox, type Pipeline, type PipelineResult, type StageGuard, type StageTimings } from "../pipeline.ts";
import { clip, squareOf, type Rect } from "./boxes.ts";
import { FaceDetector } from "./detector.ts";
import { fivePoints, interOcularDistance, LandmarkModel } from "./landmarks.ts";
import { checkFaceQuality, detectionProblem } from "./quality.ts";
import { contenders, faceAtEyes, selectFace, type DetectedFace } from "./selection.ts";

export type { DetectedFace } from "./selection.ts";

/** detect -> pick one face -> 68 landmarks -> five-point alignment -> embedding. */
export class FacePipeline implements Pipeline {
  readonly modelId: string;

  private constructor(
    private readonly config: FacePipelineConfig,
    private readonly detector: FaceDetector,
    private readonly landmarks: LandmarkModel,
    private readonly embedder: Embedder,
  ) {
    this.modelId = config.modelId;
  }

  static async load(config: FacePipelineConfig, threads: number): Promise<FacePipeline> {
    const [detector, landmarks, embedder] = await Promise.all([
      FaceDetector.load(config.detector, threads),
      LandmarkModel.load(config.landmarks, threads),
      Embedder.load(config.embedder, threads),
    ]);
    return new FacePipeline(config, detector, landmarks, embedder);
  }

  /** The faces the image holds (detections within the contender margin of the best), left to right. */
  async detectFaces(image: RgbImage): Promise<DetectedFace[]> {
    return contenders(await this.detectAll(image), this.config.detector.contenderMargin).sort((a, b) => a.box.x1 - b.box.x1);
  }

  private async detectAll(image: RgbImage): Promise<DetectedFace[]> {
    const detections = await this.detector.detect(image);
    return detections.map((detection) => ({ detection, box: clip(squareOf(detection), image.width, image.height) }));
  }

  async extract(image: RgbImage, { faceBox, eyes: recordEyes }: ExtractionHints, timings: StageTimings, guard: StageGuard): Promise<PipelineResult> {
    const faces = await timed(timings, "detectMs", () => this.detectAll(image));
    guard();
    const rules = { contenderMargin: this.config.detector.contenderMargin, boxMinIou: this.config.boxMinIou };
    // A record's eye positions settle which of several faces it is about; the caller's box wins.
    const atEyes = faceBox === undefined && recordEyes !== undefined ? faceAtEyes(faces, recordEyes, rules) : undefined;
    const face = atEyes ?? selectFace(faces, faceBox, rules);
    // Refused before the landmark pass when the score alone settles it.
    const unsure = detectionProblem(face.detection.score, this.config.quality);
    if (unsure !== undefined) throw new AppError(ErrorCode.FACE_QUALITY_LOW, `not a usable face: ${unsure}`);
    const landmarkBox = squareOf(face.detection);
    const landmarks = await timed(timings, "landmarksMs", () => this.landmarks.predict(image, landmarkBox));
    checkFaceQuality(face.detection.score, landmarkBox, landmarks, this.config.quality);
    const eyes = fivePoints(landmarks);
    const interOcularPx = interOcularDistance(landmarks);
    if (interOcularPx < this.config.minInterOcularPx) {
      throw new AppError(
        ErrorCode.FACE_TOO_SMALL,
        `inter-ocular distance is ${interOcularPx.toFixed(1)} px; at least ${this.config.minInterOcularPx} px is needed`,
      );
    }
    guard();
    const template = await timed(timings, "embedMs", () => this.embed(image, eyes));
    return {
      template,
      quality: { box: toPixelBox(face.box), detectionScore: face.detection.score, interOcularPx },
      ...(atEyes ? { eyesUsed: true } : {}),
    };
  }

  /** Aligns the face on the model's reference points and embeds it. */
  async embed(image: RgbImage, points: readonly Point[]): Promise<Float32Array> {
    const transform = this.alignment(points);
    const crop = warpAffine(image, transform, this.embedder.width, this.embedder.height);
    return this.embedder.embed(crop);
  }

  private alignment(points: readonly Point[]): Affine {
    const reference = this.config.alignment.reference as Point[];
    if (this.config.alignment.method === "three-point-affine") {
      return affineFromThreePoints(points.slice(0, 3), reference.slice(0, 3));
    }
    return similarityTransform(points, reference);
  }

}

export function toPixelBox(r: Rect): PixelBox {
  return { x: r.x1, y: r.y1, width: r.x2 - r.x1, height: r.y2 - r.y1 };
}
