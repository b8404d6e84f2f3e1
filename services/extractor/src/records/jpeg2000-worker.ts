import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";
import type { DecodeReply, DecodeRequest, Size } from "./jpeg2000-thread.ts";

// The JPEG 2000 decoding thread (started by jpeg2000-thread.ts): OpenJPEG in WebAssembly.
interface J2kDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getDecodedBuffer(): Uint8Array;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean };
  delete(): void;
}
interface OpenJpegModule {
  J2KDecoder: new () => J2kDecoder;
}
type OpenJpegFactory = (options: { print: (s: string) => void; printErr: (s: string) => void }) => Promise<OpenJpegModule>;

const port = parentPort;
if (!port) throw new Error("the JPEG 2000 decoder must run in a worker thread");
const require = createRequire(import.meta.url);
const quiet = () => {};
// Instantiated once per thread; OpenJPEG's own chatter is not printed.
const openjpeg = (require("@cornerstonejs/codec-openjpeg/decodewasmjs") as OpenJpegFactory)({ print: quiet, printErr: quiet });

/** The decoder's memory is freed after each image, though the WebAssembly heap keeps its high-water mark. */
async function decode({ id, codestream, size }: DecodeRequest): Promise<DecodeReply> {
  const { J2KDecoder } = await openjpeg;
  const decoder = new J2KDecoder();
  try {
    decoder.getEncodedBuffer(codestream.length).set(codestream);
    try {
      decoder.decode();
    } catch {
      return { id, corrupt: "the decoder failed" };
    }
    const info = decoder.getFrameInfo();
    const samples = decoder.getDecodedBuffer();
    const bytesPerSample = size.bitDepth > 8 ? 2 : 1;
    if (info.width !== size.width || info.height !== size.height || info.componentCount !== size.components
      || samples.length !== size.width * size.height * size.components * bytesPerSample) {
      return { id, corrupt: "incomplete data" };
    }
    return { id, rgb: toRgb(samples, size, bytesPerSample) };
  } finally {
    decoder.delete();
  }
}

/** Interleaved samples of 1, 3 or 4 components at any depth up to 16 bits -> 8-bit RGB. */
function toRgb(samples: Uint8Array, size: Size, bytesPerSample: number): Uint8Array {
  const pixels = size.width * size.height;
  const out = new Uint8Array(pixels * 3);
  const max = 2 ** size.bitDepth - 1;
  const sampleAt = bytesPerSample === 1
    ? (i: number) => samples[i]!
    : (i: number) => samples[2 * i]! | (samples[2 * i + 1]! << 8);
  const scale = 255 / max;
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const v = sampleAt(p * size.components + (size.components === 1 ? 0 : c));
      out[p * 3 + c] = size.bitDepth === 8 ? v : Math.round(v * scale);
    }
  }
  return out;
}

port.on("message", (req: DecodeRequest) => {
  void decode(req).then((reply) => port.postMessage(reply, "rgb" in reply ? [reply.rgb.buffer as ArrayBuffer] : []));
});
