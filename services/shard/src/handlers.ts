import { ErrorCode, SearchMode, ShardService, type ShardSearchRequest } from "@taj/proto";
import { AppError, MAX_SHARD_K, modalityFromName, modalityName, parseBodyLocationFilter, validateModelId, wireTemplate, type ServiceImpl } from "@taj/common";
import { IndexWorkerError, type IndexClient } from "./index/client.ts";
import { quantize } from "./index/quantize.ts";
import type { PartitionState } from "./partition-state.ts";
import type { ShardMetrics } from "./metrics.ts";

const DEFAULT_LIST = 10_000;
const MAX_LIST = 100_000;

export interface HandlerDeps {
  shardId: string;
  site: string;
  partitionCount: number;
  index: IndexClient;
  state: PartitionState;
  metrics: ShardMetrics;
  snapshotSequence(): number;
  /** The probe as the modality's indexes compare it (projection/); the raw template when absent. */
  project?(modality: ShardSearchRequest["modality"], template: Float32Array): ArrayLike<number>;
  /** For ShardStatusResponse.projections. */
  projections?(): { modality: ShardSearchRequest["modality"]; version: number }[];
}

const invalid = (message: string) => new AppError(ErrorCode.INVALID_ARGUMENT, message);

interface ValidSearch {
  modality: string;
  partitions: number[];
  template: Float32Array;
  exhaustive: boolean;
  bodyLocations: string[];
  modelId: string;
}

function validate(req: ShardSearchRequest, deps: HandlerDeps): ValidSearch {
  const modality = modalityName(req.modality);
  // No default here: the gateway resolves it (beside the threshold) so the answer and the audit name the mode that ran.
  if (req.mode !== SearchMode.APPROXIMATE && req.mode !== SearchMode.EXHAUSTIVE) throw invalid("mode must be APPROXIMATE or EXHAUSTIVE");
  if (!Number.isInteger(req.k) || req.k < 1 || req.k > MAX_SHARD_K) throw invalid(`k must be between 1 and ${MAX_SHARD_K}`);
  if (req.partitions.length === 0) throw invalid("partitions must not be empty");
  const partitions = [...new Set(req.partitions)];
  if (partitions.some((p) => p >= deps.partitionCount)) throw invalid(`partitions must be below ${deps.partitionCount}`);
  const template = wireTemplate(req);
  const bodyLocations = parseBodyLocationFilter(req.modality, req.bodyLocations);
  // A filtered search is an exact scan of the matching templates (see index/body-locations.ts).
  const modelId = validateModelId(req.modelId, "model_id", true);
  return { modality, partitions, template, exhaustive: req.mode === SearchMode.EXHAUSTIVE || bodyLocations.length > 0, bodyLocations, modelId };
}

export function shardHandlers(deps: HandlerDeps): ServiceImpl<typeof ShardService.method> {
  return {
    async shardSearch(req) {
      const { modality, partitions, template, exhaustive, bodyLocations, modelId } = validate(req, deps);
      const missing = partitions.filter((p) => !deps.state.isLoaded(p));
      if (missing.length > 0) {
        // UNAVAILABLE rather than an argument error: another replica may hold them, so the coordinator retries there.
        throw new AppError(ErrorCode.UNAVAILABLE, `partitions ${missing.join(",")} are not served by this replica`);
      }
      const appliedSequence = deps.state.appliedSequence();
      const stop = deps.metrics.searchDuration.startTimer({ mode: exhaustive ? "exhaustive" : "approximate" });
      try {
        // Projected and sent in one turn: see ProjectionStaging's swap.
        const probe = deps.project ? deps.project(req.modality, template) : template;
        const results = await deps.index.search(modality, partitions, quantize(probe), req.k, exhaustive, bodyLocations, modelId);
        return {
          hits: results.flatMap((r) => r.hits.map((h) => ({ id: h.id, similarity: h.similarity, partition: r.partition }))),
          appliedSequence: BigInt(appliedSequence),
        };
      } catch (err) {
        if (err instanceof IndexWorkerError && err.invalid) throw invalid(err.message);
        throw err;
      } finally {
        stop();
      }
    },

    async listTemplates(req) {
      const modality = modalityName(req.modality);
      if (req.partition >= deps.partitionCount) throw invalid(`partition must be below ${deps.partitionCount}`);
      if (req.limit > MAX_LIST) throw invalid(`limit must be at most ${MAX_LIST}`);
      if (!deps.state.isLoaded(req.partition)) {
        throw new AppError(ErrorCode.UNAVAILABLE, `partition ${req.partition} is not served by this replica`);
      }
      const appliedSequence = deps.state.appliedSequence();
      const limit = req.limit === 0 ? DEFAULT_LIST : req.limit;
      const ids = (await deps.index.ids(modality, req.partition)).filter((id) => id > req.afterId).sort();
      return { ids: ids.slice(0, limit), more: ids.length > limit, appliedSequence: BigInt(appliedSequence) };
    },

    async shardStatus() {
      const counts = await deps.index.counts();
      return {
        shardId: deps.shardId,
        site: deps.site,
        partitions: deps.state.loaded(),
        counts: counts.map((c) => ({ modality: modalityFromName(c.modality), modelId: c.modelId, partition: c.partition, templates: BigInt(c.templates) })),
        appliedSequence: BigInt(deps.state.appliedSequence()),
        snapshotSequence: BigInt(deps.snapshotSequence()),
        projections: deps.projections?.() ?? [],
      };
    },
  };
}
