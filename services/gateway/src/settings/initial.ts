import { create } from "@bufbuild/protobuf";
import { Modality, ModalitySettingsSchema, type ModalitySettings } from "@taj/proto";
import type { GatewayConfig } from "../config.ts";

/**
 * The DEFAULT_* environment as settings: used only for a modality etcd has none for (a new
 * cluster); afterwards UpdateSettings changes them and the environment is not read again. Quality
 * gates start at 0: the extractor's own checks alone.
 */
export function initialSettings(config: GatewayConfig): ModalitySettings[] {
  const of = (modality: Modality, similarityThreshold: number, searchMode: ModalitySettings["searchMode"]) =>
    create(ModalitySettingsSchema, { modality, similarityThreshold, maxCandidates: config.DEFAULT_MAX_CANDIDATES, searchMode, quality: {} });
  return [
    of(Modality.FACE, config.DEFAULT_SIMILARITY_THRESHOLD_FACE, config.DEFAULT_SEARCH_MODE_FACE),
    of(Modality.TATTOO, config.DEFAULT_SIMILARITY_THRESHOLD_TATTOO, config.DEFAULT_SEARCH_MODE_TATTOO),
    of(Modality.MARK, config.DEFAULT_SIMILARITY_THRESHOLD_MARK, config.DEFAULT_SEARCH_MODE_MARK),
  ];
}
