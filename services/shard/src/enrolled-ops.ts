import { enrolledTemplate } from "@taj/common";
import type { TemplateEnrolled } from "@taj/proto";
import { quantize } from "./index/quantize.ts";
import type { ChangeOp } from "./index/store.ts";

/** What the index stores for a model's template (projected, raw), or undefined when it is not indexed. */
export type ForIndex = (modelId: string, template: Float32Array) => ArrayLike<number> | undefined;

/**
 * The index changes of one enrolled record, for the live feed and a re-index alike: its template,
 * and during a model upgrade each other model's (other_models), each into its model's space, each
 * op naming the others as `alongside` so the id stays in all of them. A template that is unusable
 * or not indexed (another model than the modality's projection) makes no op; `skipped` counts them.
 */
export function enrolledOps(base: Pick<ChangeOp, "modality" | "partition" | "id">, enrolled: TemplateEnrolled, forIndex: ForIndex): { ops: ChangeOp[]; skipped: number } {
  const carriers = [
    { modelId: enrolled.modelId, template: enrolledTemplate(enrolled) },
    ...enrolled.otherModels.map((m) => ({ modelId: m.modelId, template: enrolledTemplate({ templateF16: m.templateF16, template: [] }) })),
  ];
  const seen = new Set<string>();
  const vectors: { modelId: string; vector: ArrayLike<number> }[] = [];
  let skipped = 0;
  for (const { modelId, template } of carriers) {
    if (seen.has(modelId)) continue;
    seen.add(modelId);
    const vector = template.length > 0 ? forIndex(modelId, template) : undefined;
    if (vector === undefined) skipped++;
    else vectors.push({ modelId, vector });
  }
  const models = vectors.map((v) => v.modelId);
  return {
    ops: vectors.map(({ modelId, vector }) => ({
      ...base,
      modelId,
      vector: quantize(vector),
      alongside: models.filter((m) => m !== modelId),
      bodyLocation: enrolled.bodyLocation,
    })),
    skipped,
  };
}
