import { ErrorCode, Modality, type QualityGates, type Quality } from "@taj/proto";
import { AppError } from "@taj/common";

/**
 * The administrator's quality bars (ModalitySettings.quality) over what the extractor measured.
 * The extractor's own checks ran first and stay the floor; these only refuse more, with the code
 * the extractor uses for the same shortfall, so callers handle one set of errors.
 */
export function qualityShortfall(modality: Modality, gates: QualityGates | undefined, quality: Quality | undefined): AppError | undefined {
  if (!gates || !quality) return undefined;
  if (modality === Modality.FACE) {
    if (quality.detectionScore < gates.minDetectionScore) {
      return new AppError(ErrorCode.FACE_QUALITY_LOW, `not a usable face: detection confidence ${quality.detectionScore.toFixed(3)} is below the ${gates.minDetectionScore.toFixed(3)} required`);
    }
    if (quality.interOcularPx < gates.minInterOcularPx) {
      return new AppError(ErrorCode.FACE_TOO_SMALL, `the eye centres are ${quality.interOcularPx.toFixed(1)} px apart; at least ${gates.minInterOcularPx} px are required`);
    }
    return undefined;
  }
  const side = quality.box ? Math.min(quality.box.widthPx, quality.box.heightPx) : Number.POSITIVE_INFINITY;
  if (side < gates.minRegionSidePx) {
    return new AppError(ErrorCode.REGION_TOO_SMALL, `the region's shorter side is ${Math.round(side)} px; at least ${gates.minRegionSidePx} px are required`);
  }
  if (quality.contrast < gates.minContrast) {
    return new AppError(ErrorCode.IMAGE_NEAR_UNIFORM, `the region's contrast ${quality.contrast.toFixed(4)} is below the ${gates.minContrast} required`);
  }
  return undefined;
}

/** Throws the shortfall, if any. */
export function checkQualityGates(modality: Modality, gates: QualityGates | undefined, quality: Quality | undefined): void {
  const shortfall = qualityShortfall(modality, gates, quality);
  if (shortfall) throw shortfall;
}
