/**
 * A shard keeps its templates per (modality, model): a *space*. Templates of two models are never
 * compared (their similarities mean nothing to each other), and a modality's templates of a new
 * model can be enrolled beside the old model's while TAJ re-sends photos (docs/model-upgrade.md).
 * Modality names never hold ':', so the first one splits a space.
 */
export const spaceOf = (modality: string, modelId: string): string => `${modality}:${modelId}`;

export function spaceParts(space: string): { modality: string; modelId: string } {
  const i = space.indexOf(":");
  return i < 0 ? { modality: space, modelId: "" } : { modality: space.slice(0, i), modelId: space.slice(i + 1) };
}
