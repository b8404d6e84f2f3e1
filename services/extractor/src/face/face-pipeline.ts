import { create } from "@bufbuild/protobuf";
import { BoxSchema, ErrorCode } from "@taj/proto";
import { AppError } from "@taj/common";
import type { RgbImage } from "../decode.ts";
import { Embedder } from "../embedder.ts";
import { affineFromThreePoints, similarityTransform, warpAffine, type Affine, type Point } from "../geometry.ts";
import type { FacePipelineConfig } from "../pipeline-config.ts";
import { timed, type PixelBox, type Pipeline, type PipelineResult, type StageGuard, type StageTimings } from "../pipeline.ts";
import { clip, iou, squareOf, type Detection, type Rect } from "./boxes.ts";
import { FaceDetector } from "./detector.ts";
import { distance, fivePoints, LandmarkModel } from "./landmarks.ts";

export interface DetectedFace {
  detection: Detection;
  /** The square box the landmark model sees, clipped to the image: what callers are shown. */
  box: Rect;
}

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

  /** Every face found, left to right. */
  async detectFaces(image: RgbImage): Promise<DetectedFace[]> {
    const detections = await this.detector.detect(image);
    return detections
      .map((detection) => ({ detection, box: clip(squareOf(detection), image.width, image.height) }))
      .sort((a, b) => a.box.x1 - b.box.x1);
  }

  async extract(image: RgbImage, faceBox: PixelBox | undefined, timings: StageTimings, guard: StageGuard): Promise<PipelineResult> {
    const faces = await timed(timings, "detectMs", () => this.detectFaces(image));
    guard();
    const face = this.select(faces, faceBox);
    const eyes = await timed(timings, "landmarksMs", async () => {
      const points = fivePoints(await this.landmarks.predict(image, squareOf(face.detection)));
      return points;
    });
    const interOcularPx = distance(eyes[0]!, eyes[1]!);
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

  private select(faces: DetectedFace[], faceBox: PixelBox | undefined): DetectedFace {
    const [first] = faces;
    if (first === undefined) throw new AppError(ErrorCode.NO_FACE, "no face was found in the image");
    if (faceBox === undefined) {
      if (faces.length === 1) return first;
      throw new AppError(ErrorCode.MULTIPLE_FACES, `${faces.length} faces were found; send face_box to choose one`, {
        faces: faces.map((f) => create(BoxSchema, boxMessage(f.box))),
      });
    }
    const wanted: Rect = { x1: faceBox.x, y1: faceBox.y, x2: faceBox.x + faceBox.width, y2: faceBox.y + faceBox.height };
    let best: DetectedFace | undefined;
    let bestIou = 0;
    for (const f of faces) {
      // The caller may send back our square box or the detector's own: accept either.
      const overlap = Math.max(iou(f.box, wanted), iou(f.detection, wanted));
      if (overlap > bestIou) {
        best = f;
        bestIou = overlap;
      }
    }
    if (best === undefined || bestIou < this.config.boxMinIou) {
      throw new AppError(ErrorCode.BOX_MATCHES_NO_FACE, "face_box does not match any face found in the image");
    }
    return best;
  }
}

export function toPixelBox(r: Rect): PixelBox {
  return { x: r.x1, y: r.y1, width: r.x2 - r.x1, height: r.y2 - r.y1 };
}

function boxMessage(r: Rect) {
  return { xPx: r.x1, yPx: r.y1, widthPx: r.x2 - r.x1, heightPx: r.y2 - r.y1 };
}
