import { readFileSync } from "node:fs";
import assert from "node:assert/strict";
import { ErrorCode } from "@taj/proto";
import { AppError, errorCodeName } from "@taj/common";
import { Extractor } from "../src/extractor.ts";
import { loadModalities } from "../src/pipeline-config.ts";
import { samplePath } from "./renderings.ts";

export const LIMITS = { maxBytes: 15 * 1024 * 1024, maxPixels: 40_000_000 };

let shared: Promise<Extractor> | undefined;

/** One extractor per test file, with the built-in face pipeline (real models). */
export function faceExtractor(): Promise<Extractor> {
  shared ??= Extractor.create(loadModalities(undefined), LIMITS, 1);
  return shared;
}

export function sample(name: string): Buffer {
  return readFileSync(samplePath(name));
}

/** Asserts that `work` fails with the given code, and returns the error. */
export async function rejectsWith(work: Promise<unknown>, code: ErrorCode): Promise<AppError> {
  try {
    await work;
  } catch (err) {
    const appError = AppError.from(err);
    assert.equal(errorCodeName(appError.code), errorCodeName(code), `expected ${errorCodeName(code)}, got: ${appError.message}`);
    return appError;
  }
  assert.fail(`expected ${errorCodeName(code)}, but it succeeded`);
}
