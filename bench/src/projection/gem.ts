import sharp from "sharp";
import * as ort from "onnxruntime-node";

/**
 * Tattoo templates from the InceptionV3 `mixed4` trunk (packages/tattoo-model, 768 x 17 x 17)
 * with generalised-mean pooling (p = 3) over the spatial grid, L2-normalised: the 768-d tattoo
 * embedding the issue measures. The extractor does not run this pipeline yet; the bench does.
 */
export class GemEmbedder {
  private constructor(private readonly session: ort.InferenceSession, private readonly size: number) {}

  static async open(modelPath: string, size = 299, threads = 0): Promise<GemEmbedder> {
    const session = await ort.InferenceSession.create(modelPath, threads > 0 ? { intraOpNumThreads: threads } : {});
    return new GemEmbedder(session, size);
  }

  async embed(image: Buffer, p = 3): Promise<Float32Array> {
    const { data } = await sharp(image).removeAlpha().resize(this.size, this.size, { fit: "fill" }).raw().toBuffer({ resolveWithObject: true });
    const plane = this.size * this.size;
    const input = new Float32Array(3 * plane);
    // NCHW, RGB scaled to [0, 1] as the trunk was trained on (nsfwjs feeds x / 255).
    for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) input[c * plane + i] = data[i * 3 + c]! / 255;
    const feeds = { [this.session.inputNames[0]!]: new ort.Tensor("float32", input, [1, 3, this.size, this.size]) };
    const out = (await this.session.run(feeds))[this.session.outputNames[0]!]!;
    const [, channels, h, w] = out.dims as number[];
    const cells = h! * w!;
    const values = out.data as Float32Array;
    const template = new Float32Array(channels!);
    let norm = 0;
    for (let c = 0; c < channels!; c++) {
      let sum = 0;
      for (let i = 0; i < cells; i++) sum += Math.max(values[c * cells + i]!, 0) ** p;
      template[c] = (sum / cells) ** (1 / p);
      norm += template[c]! ** 2;
    }
    norm = Math.sqrt(norm);
    if (norm > 0) for (let c = 0; c < template.length; c++) template[c] = template[c]! / norm;
    return template;
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
