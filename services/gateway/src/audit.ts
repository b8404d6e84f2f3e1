import { createLogger, type Logger } from "@taj/common";

export interface AuditRecord {
  searchId: string;
  at: string;
  user: string;
  caseRef: string;
  modality: string;
  threshold: number | undefined;
  maxCandidates: number | undefined;
  mode: string | undefined;
  candidates: Array<{ id: string; similarity: number }>;
  complete: boolean;
  unsearchedPartitions: number[];
  outcome: string;
  ms: number;
}

/**
 * The search audit trail: one JSON line per search, success or failure, on its own logger whose
 * level does not follow LOG_LEVEL, so an operator cannot silence it by turning logs down.
 * Never holds the image or the template.
 */
export class AuditTrail {
  readonly #logger: Logger;

  constructor(logger: Logger = createLogger("gateway-audit", "info")) {
    this.#logger = logger.child({ audit: true });
  }

  record(entry: AuditRecord): void {
    this.#logger.info(entry, "search");
  }
}
