import { ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { RgbImage } from "../decode.ts";
import { Embedder } from "../embedder.ts";
import { affineFromThreePoints, similarityTransform, warpAffine, type Affine, type Point } from "../geometry.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import { timed, type EveryFaceResult, type ExtractionHints, type FaceOutcome, type PixelBox, type Pipeline, type PipelineResult, type StageGuard, type StageTimings } from "../pipeline.ts";
import { clip, squareOf, type Rect } from "./boxes.ts";
import { FaceDetector } from "./detector.ts";
import { fivePoints, interOcularDistance, LandmarkModel } from "./landmarks.ts";
import { checkFaceQuality, detectionProblem } from "./quality.ts";
import { contenders, faceAtEyes, selectFace, type DetectedFace } from "./selection.ts";

export type { DetectedFace } from "./selection.ts";

/** The face errors an every-face extraction reports per face instead of failing the image. */
const PER_FACE_ERRORS: ReadonlySet<ErrorCode> = new Set([ErrorCode.FACE_QUALITY_LOW, ErrorCode.FACE_TOO_SMALL]);

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
    return { ...(await this.extractFace(image, face, timings, guard)), ...(atEyes ? { eyesUsed: true } : {}) };
  }

  /**
   * Every face the image holds (the contenders, as MULTIPLE_FACES would list them), the `limit`
   * most confident, left to right: a template each, or the quality error that stopped it.
   */
  async extractEvery(image: RgbImage, limit: number, timings: StageTimings, guard: StageGuard): Promise<EveryFaceResult> {
    const found = await timed(timings, "detectMs", () => this.detectFaces(image));
    guard();
    if (found.length === 0) throw new AppError(ErrorCode.NO_FACE, "no face was found in the image");
    const kept = [...found].sort((a, b) => b.detection.score - a.detection.score).slice(0, limit).sort((a, b) => a.box.x1 - b.box.x1);
    const faces: FaceOutcome[] = [];
    for (const face of kept) {
      try {
        faces.push(await this.extractFace(image, face, timings, guard));
      } catch (err) {
        // One unusable face (too small, blurred) must not cost the investigator the others.
        if (!(err instanceof AppError) || !PER_FACE_ERRORS.has(err.code)) throw err;
        faces.push({ error: err, quality: { box: toPixelBox(face.box), detectionScore: face.detection.score, interOcularPx: 0 } });
      }
    }
    return { faces, found: found.length };
  }

  /** Quality checks, landmarks, alignment and embedding of one detected face. */
  private async extractFace(image: RgbImage, face: DetectedFace, timings: StageTimings, guard: StageGuard): Promise<PipelineResult> {
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
    return { template, quality: { box: toPixelBox(face.box), detectionScore: face.detection.score, interOcularPx } };
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
