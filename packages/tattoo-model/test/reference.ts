// Reference outputs from TF.js itself (pure JS CPU backend, a devDependency): the same Keras
// model JSON and quantised weights, loaded the way nsfwjs loads them, cut with tf.model().
import * as tf from "@tensorflow/tfjs";
import type { ModelArtifacts } from "../src/index.ts";

let ready: Promise<boolean> | undefined;

/** NHWC batch in, the cut layer's output out, transposed to NCHW for comparison with ONNX. */
export async function tfjsTrunk(artifacts: ModelArtifacts, cut: string, nhwc: Float32Array, shape: [number, number, number, number]): Promise<Float32Array> {
  ready ??= tf.setBackend("cpu");
  await ready;
  const weightData = artifacts.weightData.slice().buffer;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: artifacts.modelTopology, weightSpecs: artifacts.weightSpecs, weightData }));
  const trunk = tf.model({ inputs: model.inputs, outputs: model.getLayer(cut).output as tf.SymbolicTensor });
  const out = tf.tidy(() => (trunk.predict(tf.tensor4d(nhwc, shape)) as tf.Tensor4D).transpose([0, 3, 1, 2]));
  const data = Float32Array.from(await out.data());
  out.dispose();
  model.dispose();
  return data;
}

export function compare(a: Float32Array, b: Float32Array): { maxAbs: number; cosine: number; maxRef: number } {
  let maxAbs = 0, dot = 0, na = 0, nb = 0, maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return { maxAbs, cosine: dot / Math.sqrt(na * nb), maxRef };
}
