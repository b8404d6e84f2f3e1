import { ErrorCode, Modality, SearchMode, type CoordinatorService } from "@taj/proto";
import { AppError, type ServiceImpl } from "@taj/common";
import { coordinatedSearch, type SearchDeps } from "./search.ts";
import { clusterStatus } from "./status.ts";

type Impl = ServiceImpl<typeof CoordinatorService extends { method: infer M } ? M : never>;

export interface ServiceDeps extends SearchDeps {
  searchTimeoutMs: number;
  statusCallTimeoutMs: number;
}

const KNOWN_MODALITIES = new Set<Modality>([Modality.FACE, Modality.TATTOO, Modality.MARK]);
const KNOWN_MODES = new Set<SearchMode>([SearchMode.UNSPECIFIED, SearchMode.APPROXIMATE, SearchMode.EXHAUSTIVE]);

/** The coordinator trusts its caller (the gateway) little more than anyone: bad input is refused here too. */
function invalid(message: string): AppError {
  return new AppError(ErrorCode.INVALID_ARGUMENT, message);
}

export function coordinatorService(deps: ServiceDeps): Impl {
  return {
    async coordinatedSearch(req, ctx) {
      if (!KNOWN_MODALITIES.has(req.modality)) {
        throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, "modality must be FACE, TATTOO or MARK");
      }
      if (req.template.length === 0 || !req.template.every(Number.isFinite)) throw invalid("template must be a non-empty finite vector");
      if (!(req.similarityThreshold >= -1 && req.similarityThreshold <= 1)) throw invalid("similarity_threshold must be in [-1, 1]");
      if (req.maxCandidates < 1) throw invalid("max_candidates must be at least 1");
      if (!KNOWN_MODES.has(req.mode)) throw invalid("unknown search mode");
      const deadline = Math.min(ctx.deadline, Date.now() + deps.searchTimeoutMs);
      const outcome = await coordinatedSearch(
        deps,
        {
          modality: req.modality,
          template: req.template,
          threshold: req.similarityThreshold,
          maxCandidates: req.maxCandidates,
          mode: req.mode,
          allowPartial: req.allowPartial,
        },
        deadline,
      );
      return {
        candidates: outcome.candidates,
        unsearchedPartitions: outcome.unsearched,
        partitionCount: outcome.partitionCount,
      };
    },
    async clusterStatus(_req, ctx) {
      return clusterStatus(deps.table(), deps.clients, deps.statusCallTimeoutMs, ctx.deadline);
    },
  };
}
