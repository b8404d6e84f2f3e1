import type { Box, Modality } from "@taj/proto";

/** What the extractor is asked: the image, and the caller's hints about where to look in it. */
export function extractRequestOf(input: { modality: Modality; image: Uint8Array; faceBox: Box | undefined; recordImageIndex: number | undefined }, modelId: string) {
  return {
    modality: input.modality,
    modelId,
    image: input.image,
    ...(input.faceBox ? { faceBox: input.faceBox } : {}),
    ...(input.recordImageIndex === undefined ? {} : { recordImageIndex: input.recordImageIndex }),
  };
}
