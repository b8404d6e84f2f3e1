import type { EmbedderConfig } from "./pipeline-config.ts";
import { gemPool } from "./pooling.ts";
import { l2Normalise, loadModel, outputTensor, run, toInputTensor, type ModelSession } from "./tensor.ts";

/** Runs an embedding model on an already cropped input and returns a unit-length template. */
export class Embedder {
  private constructor(
    private readonly model: ModelSession,
    private readonly spec: EmbedderConfig,
  ) {}

  static async load(spec: EmbedderConfig, threads: number): Promise<Embedder> {
    return new Embedder(await loadModel(spec.model, threads), spec);
  }

  get width(): number {
    return this.spec.width;
  }

  get height(): number {
    return this.spec.height;
  }

  async embed(rgb: Uint8Array): Promise<Float32Array> {
    const outputs = await run(this.model, toInputTensor(rgb, this.spec.width, this.spec.height, this.spec));
    const name = this.model.session.outputNames[0] ?? "output";
    const { data, dims } = outputTensor(outputs, name);
    const vector = this.spec.pooling.kind === "gem" ? gemPool(data, dims, this.spec.pooling.power) : Float32Array.from(data);
    if (vector.length !== this.spec.dimensions) {
      throw new Error(`embedding has ${vector.length} dimensions, config says ${this.spec.dimensions}`);
    }
    return l2Normalise(vector);
  }
}
