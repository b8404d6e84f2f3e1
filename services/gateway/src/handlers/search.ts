import { randomUUID } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { SearchMode, type Modality, type SearchRequest, type SearchResponseSchema } from "@taj/proto";
import { AppError, errorCodeName, type CallContext } from "@taj/common";
import { callerOf, validateSearch, type ValidSearch } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";

const modalityLabel = (m: Modality) => (["unspecified", "face", "tattoo", "mark"][m] ?? String(m));

/**
 * Extracts the probe, has the coordinator search every partition, and records the search in the
 * audit trail whatever its outcome.
 */
export async function search(deps: GatewayDeps, req: SearchRequest, ctx: CallContext): Promise<MessageInitShape<typeof SearchResponseSchema>> {
  const searchId = randomUUID();
  const started = performance.now();
  const user = callerOf(ctx.metadata.get("x-taj-user")[0]?.toString());
  let input: ValidSearch | undefined;
  let response: MessageInitShape<typeof SearchResponseSchema> | undefined;
  let failure: AppError | undefined;
  try {
    input = validateSearch(req, deps.limits);
    const deadline = deadlineOf(ctx, deps);
    const probe = await deps.extractors.extract(
      { modality: input.modality, image: input.image, ...(input.faceBox ? { faceBox: input.faceBox } : {}) },
      { deadline, signal: ctx.signal },
    );
    const answer = await deps.coordinators.search(
      {
        modality: input.modality,
        template: probe.template,
        similarityThreshold: input.threshold,
        maxCandidates: input.maxCandidates,
        mode: input.mode,
        allowPartial: input.allowPartial,
      },
      { deadline, signal: ctx.signal },
    );
    response = {
      candidates: answer.candidates,
      complete: answer.unsearchedPartitions.length === 0,
      unsearchedPartitions: answer.unsearchedPartitions,
      partitionCount: answer.partitionCount,
      ...(probe.quality ? { probeQuality: probe.quality } : {}),
      similarityThreshold: input.threshold,
      maxCandidates: input.maxCandidates,
      mode: input.mode,
      searchId,
    };
    return response;
  } catch (err) {
    failure = AppError.from(err);
    throw failure;
  } finally {
    const outcome = failure ? errorCodeName(failure.code) : "OK";
    const complete = response?.complete ?? false;
    deps.metrics?.searches.inc({ modality: modalityLabel(req.modality), code: outcome, complete: String(complete) });
    deps.audit.record({
      searchId,
      at: new Date().toISOString(),
      user,
      caseRef: input?.caseRef ?? "",
      modality: modalityLabel(req.modality),
      threshold: input?.threshold,
      maxCandidates: input?.maxCandidates,
      mode: input ? SearchMode[input.mode] : undefined,
      candidates: (response?.candidates ?? []).map((c) => ({ id: c.id ?? "", similarity: c.similarity ?? 0 })),
      complete,
      unsearchedPartitions: [...(response?.unsearchedPartitions ?? [])],
      outcome,
      ms: Math.round(performance.now() - started),
    });
  }
}
