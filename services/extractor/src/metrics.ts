import { Counter, Gauge, Histogram } from "@taj/common";
import type { Registry } from "prom-client";
import type { Admission } from "./admission.ts";
import type { StageTimings } from "./pipeline.ts";

export interface ExtractorMetrics {
  observe(modality: string, timings: StageTimings): void;
  error(modality: string, code: string): void;
}

const STAGES: [keyof StageTimings, string][] = [
  ["decodeMs", "decode"],
  ["detectMs", "detect"],
  ["landmarksMs", "landmarks"],
  ["embedMs", "embed"],
];

/** The gauges read this process's admission (admission.ts). */
export function createExtractorMetrics(registry: Registry, admission: Pick<Admission, "inFlight" | "queued">): ExtractorMetrics {
  const duration = new Histogram({
    name: "taj_extract_stage_seconds",
    help: "Time spent in each extraction stage",
    labelNames: ["modality", "stage"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  const errors = new Counter({
    name: "taj_extract_errors_total",
    help: "Extractions refused or failed, by error code",
    labelNames: ["modality", "code"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "taj_extractor_in_flight",
    help: "Extractions running in this process (at most EXTRACT_MAX_IN_FLIGHT)",
    registers: [registry],
    collect() {
      this.set(admission.inFlight);
    },
  });
  new Gauge({
    name: "taj_extractor_queue_depth",
    help: "Extractions waiting for a slot in this process (at most EXTRACT_MAX_QUEUED; beyond: OVERLOADED)",
    registers: [registry],
    collect() {
      this.set(admission.queued);
    },
  });
  return {
    observe(modality, timings) {
      for (const [key, stage] of STAGES) {
        if (timings[key] > 0) duration.observe({ modality, stage }, timings[key] / 1000);
      }
      duration.observe({ modality, stage: "total" }, STAGES.reduce((s, [k]) => s + timings[k], 0) / 1000);
    },
    error(modality, code) {
      errors.inc({ modality, code });
    },
  };
}
