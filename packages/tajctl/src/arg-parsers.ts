import { InvalidArgumentError } from "commander";
import { modalityFromName } from "@taj/common";
import type { Modality } from "@taj/proto";

/** Option parsers shared by the commands (commander argParser): each refuses with what it expects. */

export const modalityArg = (value: string): Modality => {
  try {
    return modalityFromName(value.toLowerCase());
  } catch {
    throw new InvalidArgumentError("expected face, tattoo or mark");
  }
};

/** "a, b,,c" -> ["a", "b", "c"]. */
export const listArg = (value: string): string[] => value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);

export const positiveIntArg = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

export const numberArg = (min: number, max: number) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`a number from ${min} to ${max}`);
  return n;
};
