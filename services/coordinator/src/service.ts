import { ErrorCode, Modality, SearchMode, type CoordinatorService } from "@taj/proto";
import { AppError, MAX_CANDIDATES, parseBodyLocationFilter, validateModelId, wireTemplate, type ServiceImpl } from "@taj/common";
import { coordinatedSearch, type SearchDeps } from "./search.ts";
import { clusterStatus } from "./status.ts";

type Impl = ServiceImpl<typeof CoordinatorService extends { method: infer M } ? M : never>;

export interface ServiceDeps extends SearchDeps {
  /** Budget of a search whose caller set no deadline. */
  searchTimeoutMs: number;
  /** Cap on any search, the caller's deadline included. */
  maxSearchTimeoutMs: number;
  statusCallTimeoutMs: number;
}

const KNOWN_MODALITIES = new Set<Modality>([Modality.FACE, Modality.TATTOO, Modality.MARK]);
// No UNSPECIFIED: the gateway resolves the default mode (beside the threshold), so no service below applies its own.
const KNOWN_MODES = new Set<SearchMode>([SearchMode.APPROXIMATE, SearchMode.EXHAUSTIVE]);

/** The coordinator trusts its caller (the gateway) little more than anyone: bad input is refused here too. */
function invalid(message: string): AppError {
  return new AppError(ErrorCode.INVALID_ARGUMENT, message);
}

/**
 * When a search must end: the caller's deadline when it set one (the gateway always does: its
 * REQUEST_TIMEOUT_MS or its own caller's), up to maxSearchTimeoutMs from now; searchTimeoutMs
 * from now when it set none (ctx.deadline is Infinity).
 */
export function searchDeadline(callerDeadline: number, now: number, limits: Pick<ServiceDeps, "searchTimeoutMs" | "maxSearchTimeoutMs">): number {
  if (!Number.isFinite(callerDeadline)) return now + limits.searchTimeoutMs;
  return Math.min(callerDeadline, now + limits.maxSearchTimeoutMs);
}

export function coordinatorService(deps: ServiceDeps): Impl {
  return {
    async coordinatedSearch(req, ctx) {
      if (!KNOWN_MODALITIES.has(req.modality)) {
        throw new AppError(ErrorCode.UNSUPPORTED_MODALITY, "modality must be FACE, TATTOO or MARK");
      }
      const template = wireTemplate(req);
      if (!(req.similarityThreshold >= -1 && req.similarityThreshold <= 1)) throw invalid("similarity_threshold must be in [-1, 1]");
      if (req.maxCandidates < 1 || req.maxCandidates > MAX_CANDIDATES) throw invalid(`max_candidates must be between 1 and ${MAX_CANDIDATES}`);
      if (!KNOWN_MODES.has(req.mode)) throw invalid("mode must be APPROXIMATE or EXHAUSTIVE");
      // The gateway's check again (same list, same bound), not a second vocabulary.
      const bodyLocations = parseBodyLocationFilter(req.modality, req.bodyLocations);
      const deadline = searchDeadline(ctx.deadline, Date.now(), deps);
      const outcome = await coordinatedSearch(
        deps,
        {
          modality: req.modality,
          template,
          threshold: req.similarityThreshold,
          maxCandidates: req.maxCandidates,
          mode: req.mode,
          allowPartial: req.allowPartial,
          bodyLocations,
          modelId: validateModelId(req.modelId, "model_id", true),
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
