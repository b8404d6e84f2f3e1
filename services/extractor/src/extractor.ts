import { ErrorCode, Modality } from "@taj/proto";
import { AppError, modalityName } from "@taj/common";
import { CropPipeline } from "./crop-pipeline.ts";
import type { DecodeLimits } from "./decode.ts";
import { openImage, type RecordSummary } from "./records/open-image.ts";
import { FacePipeline } from "./face/face-pipeline.ts";
import { pipelinesByModality, type ModalitiesConfig, type PipelineConfig } from "./pipeline-config.ts";
import type { FaceOutcome, PixelBox, Pipeline, Quality, StageTimings } from "./pipeline.ts";

export interface Extraction {
  template: Float32Array;
  quality: Quality & { imageWidth: number; imageHeight: number };
  modelId: string;
  timings: StageTimings;
  /** What the bytes were: a plain image or an exchange record, and what the record gave. */
  record: RecordSummary & { eyePositionsUsed: boolean };
}

export interface EveryFaceExtraction {
  faces: FaceOutcome[];
  found: number;
  modelId: string;
  timings: StageTimings;
  imageWidth: number;
  imageHeight: number;
  record: Extraction["record"];
}

export interface ExtractOptions {
  faceBox?: PixelBox | undefined;
  /** Which of a record's images of the modality (0-based); see EnrollRequest.record_image_index. */
  recordImageIndex?: number | undefined;
  /** Which of the modality's models (ExtractRequest.model_id); "" or absent: its default. */
  modelId?: string;
  /** Milliseconds since epoch; Infinity for none. */
  deadline?: number;
  /** Aborted when the caller cancels: the remaining stages are skipped. */
  signal?: AbortSignal;
}

/** The modalities' pipelines, loaded once; stateless between calls. */
export class Extractor {
  private constructor(
    /** Per modality name, its pipelines: the default first, then the other models of an upgrade. */
    private readonly pipelines: ReadonlyMap<string, readonly Pipeline[]>,
    private readonly limits: DecodeLimits,
  ) {}

  static async create(modalities: ModalitiesConfig, limits: DecodeLimits, threads: number): Promise<Extractor> {
    const pipelines = new Map<string, Pipeline[]>();
    for (const [name, configs] of Object.entries(pipelinesByModality(modalities))) {
      const loaded: Pipeline[] = [];
      for (const config of configs) loaded.push(await loadPipeline(config, threads));
      pipelines.set(name, loaded);
    }
    return new Extractor(pipelines, limits);
  }

  /** Modality names that have a pipeline, e.g. ["face"]. */
  get modalities(): string[] {
    return [...this.pipelines.keys()];
  }

  /** Model ids per modality name, the default first. */
  get models(): Record<string, string[]> {
    return Object.fromEntries([...this.pipelines].map(([name, list]) => [name, list.map((p) => p.modelId)]));
  }

  pipeline(modality: Modality, modelId = ""): Pipeline {
    const name = modalityName(modality);
    const list = this.pipelines.get(name);
    if (list === undefined) throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, `no extraction pipeline is configured for ${name}`);
    const pipeline = modelId === "" ? list[0] : list.find((p) => p.modelId === modelId);
    if (pipeline === undefined) throw new AppError(ErrorCode.MODEL_UNAVAILABLE, `this extractor has no ${name} model "${modelId}"`);
    return pipeline;
  }

  async extract(modality: Modality, bytes: Uint8Array, options: ExtractOptions = {}): Promise<Extraction> {
    const { pipeline, image, record, eyes, timings, guard } = await this.open(modality, bytes, options);
    const { template, quality, eyesUsed } = await pipeline.extract(image, { faceBox: options.faceBox, eyes }, timings, guard);
    return {
      template,
      quality: { ...quality, imageWidth: image.width, imageHeight: image.height },
      modelId: pipeline.modelId,
      timings,
      record: { ...record, eyePositionsUsed: eyesUsed === true },
    };
  }

  /** Every face in the image (ExtractRequest.every_face), at most `limit`. */
  async extractEvery(modality: Modality, bytes: Uint8Array, limit: number, options: ExtractOptions = {}): Promise<EveryFaceExtraction> {
    if (options.faceBox !== undefined) throw new AppError(ErrorCode.INVALID_ARGUMENT, "every_face searches every face: send it without face_box");
    const pipeline = this.pipeline(modality, options.modelId);
    if (pipeline.extractEvery === undefined) throw new AppError(ErrorCode.INVALID_ARGUMENT, `every_face is for face images, not ${modalityName(modality)}`);
    const { image, record, timings, guard } = await this.open(modality, bytes, options);
    const { faces, found } = await pipeline.extractEvery(image, limit, timings, guard);
    return { faces, found, modelId: pipeline.modelId, timings, imageWidth: image.width, imageHeight: image.height, record: { ...record, eyePositionsUsed: false } };
  }

  /** The pipeline, the decoded image (or a record's) and the call's deadline guard. */
  private async open(modality: Modality, bytes: Uint8Array, options: ExtractOptions) {
    const deadline = options.deadline ?? Infinity;
    const guard = () => {
      if (Date.now() >= deadline || options.signal?.aborted === true) throw new AppError(ErrorCode.DEADLINE_EXCEEDED, "the call was cancelled or its deadline expired before extraction finished");
    };
    guard();
    const pipeline = this.pipeline(modality, options.modelId);
    const timings: StageTimings = { decodeMs: 0, detectMs: 0, landmarksMs: 0, embedMs: 0 };
    const started = performance.now();
    const { image, record, eyes } = await openImage(bytes, modality, options.recordImageIndex, this.limits);
    timings.decodeMs = performance.now() - started;
    guard();
    return { pipeline, image, record, eyes, timings, guard };
  }
}

async function loadPipeline(config: PipelineConfig, threads: number): Promise<Pipeline> {
  switch (config.kind) {
    case "face":
      return FacePipeline.load(config, threads);
    case "crop":
      return CropPipeline.load(config, threads);
  }
}
