import type { TensorInputConfig } from "./pipeline-config.ts";
import { l2Normalise, loadModel, outputData, run, toInputTensor, type ModelSession } from "./tensor.ts";

/** Runs an embedding model on an already cropped input and returns a unit-length template. */
export class Embedder {
  private constructor(
    private readonly model: ModelSession,
    private readonly spec: TensorInputConfig & { dimensions: number },
  ) {}

  static async load(spec: TensorInputConfig & { dimensions: number }, threads: number): Promise<Embedder> {
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
    const vector = Float32Array.from(outputData(outputs, name));
    if (vector.length !== this.spec.dimensions) {
      throw new Error(`embedding has ${vector.length} dimensions, config says ${this.spec.dimensions}`);
    }
    return l2Normalise(vector);
  }
}
