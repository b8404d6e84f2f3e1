import * as ort from "onnxruntime-node";
import type { TensorInputConfig } from "./pipeline-config.ts";

export interface ModelSession {
  session: ort.InferenceSession;
  inputName: string;
}

// Tattoo and mark may run the same trunk: one session each would hold its weights twice.
const sessions = new Map<string, Promise<ModelSession>>();

/**
 * Sessions are created once at start, one per model file and thread count; onnxruntime runs
 * them off the event loop, and concurrent runs of one session are safe.
 */
export function loadModel(path: string, threads: number): Promise<ModelSession> {
  const key = `${threads}:${path}`;
  let session = sessions.get(key);
  if (session === undefined) {
    session = createSession(path, threads);
    sessions.set(key, session);
    // A failed load is not remembered: the next start-up attempt reads the file again.
    session.catch(() => sessions.delete(key));
  }
  return session;
}

async function createSession(path: string, threads: number): Promise<ModelSession> {
  const session = await ort.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
  });
  const inputName = session.inputNames[0];
  if (inputName === undefined) throw new Error(`model ${path} has no input`);
  return { session, inputName };
}

/** Interleaved RGB bytes (width x height) as an NCHW float tensor, normalised per channel. */
export function toInputTensor(rgb: Uint8Array, width: number, height: number, spec: TensorInputConfig): ort.Tensor {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const order = spec.channelOrder === "rgb" ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const src = order[c]!;
    const mean = spec.mean[c]!;
    const std = spec.std[c]!;
    const base = c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = (rgb[i * 3 + src]! - mean) / std;
  }
  return new ort.Tensor("float32", out, [1, 3, height, width]);
}

export async function run(model: ModelSession, input: ort.Tensor): Promise<ort.InferenceSession.ReturnType> {
  return model.session.run({ [model.inputName]: input });
}

export function outputData(outputs: ort.InferenceSession.ReturnType, name: string): Float32Array {
  return outputTensor(outputs, name).data;
}

export function outputTensor(outputs: ort.InferenceSession.ReturnType, name: string): { data: Float32Array; dims: readonly number[] } {
  const tensor = outputs[name];
  if (tensor === undefined || !(tensor.data instanceof Float32Array)) throw new Error(`model output ${name} missing`);
  return { data: tensor.data, dims: tensor.dims };
}

/** Scales a vector to unit length in place; cosine similarity is then a dot product. */
export function l2Normalise(v: Float32Array): Float32Array {
  let sum = 0;
  for (const x of v) sum += x * x;
  const norm = Math.sqrt(sum);
  if (!(norm > 0)) throw new Error("zero embedding");
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return v;
}
