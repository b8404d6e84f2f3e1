import { ErrorCode, type Modality } from "@taj/proto";
import { AppError, applyProjection, modalityFromName, modalityName, type LinearProjection } from "@taj/common";

export interface ProjectionInUse {
  version: number;
  modelId: string;
  map: LinearProjection;
}

/**
 * The projection each modality's indexes hold, as used for what is indexed and what is searched.
 * It changes only together with the indexes (staging.ts swaps both at once), so a probe is always
 * projected like the templates it is compared with.
 */
export class Projector {
  private readonly inUse = new Map<string, ProjectionInUse>();

  set(modality: string, projection: ProjectionInUse | undefined): void {
    if (projection) this.inUse.set(modality, projection);
    else this.inUse.delete(modality);
  }

  versionOf(modality: string): number {
    return this.inUse.get(modality)?.version ?? 0;
  }

  /** Per modality name, the version in use; raw modalities absent (what a snapshot records). */
  versions(): Record<string, number> {
    return Object.fromEntries([...this.inUse].map(([m, p]) => [m, p.version]));
  }

  /** For ShardStatusResponse.projections. */
  status(): { modality: Modality; version: number }[] {
    return [...this.inUse].map(([m, p]) => ({ modality: modalityFromName(m), version: p.version })).sort((a, b) => a.modality - b.modality);
  }

  /**
   * What the index stores for an enrolled template: projected when the modality has a projection,
   * undefined (not indexed) for a template the projection cannot take: another model's, or another length.
   */
  forIndex(modality: string, modelId: string, template: Float32Array): ArrayLike<number> | undefined {
    return projectWith(this.inUse.get(modality), modelId, template);
  }

  /** The probe as the index compares it; INVALID_ARGUMENT for a length the projection does not take. */
  forProbe(modality: Modality, template: ArrayLike<number>): ArrayLike<number> {
    const p = this.inUse.get(modalityName(modality));
    if (!p) return template;
    if (template.length !== p.map.inputDimensions) {
      throw new AppError(ErrorCode.INVALID_ARGUMENT, `template must have ${p.map.inputDimensions} values for this modality`);
    }
    return applyProjection(p.map, template);
  }
}

/**
 * A template of `modelId` as indexed under `projection` (raw when none); undefined when it does
 * not apply (a projection is learned on one model's templates).
 */
export function projectWith(projection: ProjectionInUse | undefined, modelId: string, template: Float32Array): ArrayLike<number> | undefined {
  if (!projection) return template;
  if (modelId !== projection.modelId || template.length !== projection.map.inputDimensions) return undefined;
  return applyProjection(projection.map, template);
}
