// What makes an answer clean: an expected stable code, the gRPC status that code maps to, never
// INTERNAL, and a message that names nothing internal.
import { status } from "@grpc/grpc-js";
import { ErrorCode } from "@taj/proto";
import { grpcStatusOf } from "@taj/common";
import type { FuzzCase } from "./cases.ts";
import type { Outcome } from "./client.ts";

/** Traces of internals: stacks, paths, source files, library names and their error texts. */
const LEAKS = new RegExp(
  [
    String.raw`\bat \S+ \(`, String.raw`\.(?:[cm]?[jt]s|node|so)\b`, "node_modules", String.raw`/(?:home|work|usr|tmp|var|opt|proc)/`,
    String.raw`\bsharp\b`, "vips", "libpng", "libjpeg", "libwebp", "libtiff", "heif", "protobuf", "bufbuild", "grpc-js", "@grpc",
    "premature EOF", "wire type", "illegal tag", "invalid varint", "not valid for encoding", "Received message", "deserializ",
    String.raw`\bnats\b`, "jetstream", "etcd", "usearch", "onnx", "Error:", "TypeError", "RangeError", "undefined", String.raw`\[object`,
  ].join("|"),
  "i",
);

export function leakIn(text: string): string | undefined {
  return LEAKS.exec(text)?.[0];
}

/** Undefined when the answer is clean and expected; otherwise why not. */
export function judge(c: FuzzCase, o: Outcome): string | undefined {
  const seen = `${o.code || "(no taj-error-code)"} [status ${o.status}] ${JSON.stringify(o.details).slice(0, 200)}`;
  if (!c.expect.includes(o.code)) return `expected ${c.expect.join("|")}, got ${seen}`;
  if (o.code === "OK") return undefined;
  if (o.status === status.INTERNAL) return `INTERNAL: ${seen}`;
  const code = ErrorCode[o.code as keyof typeof ErrorCode];
  if (code === undefined) return `unknown code ${seen}`;
  if (o.status !== grpcStatusOf(code)) return `status ${o.status} is not the one ${o.code} maps to (${grpcStatusOf(code)})`;
  if (o.detailMessage === undefined || o.details !== `${o.code}: ${o.detailMessage}`) return `message and detail differ: ${seen}`;
  const leak = leakIn(o.details);
  if (leak) return `message names an internal ("${leak}"): ${seen}`;
  return undefined;
}
