import type { MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, type Modality, type SearchRequest, type SearchResponseSchema } from "@taj/proto";
import { AppError, encodeTemplateF32, errorCodeName, wireTemplate } from "@taj/common";
import { validateSearch } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import type { AuditedCall } from "../audit/index.ts";
import { extractRequestOf } from "./extract-request.ts";

const modalityLabel = (m: Modality) => (["unspecified", "face", "tattoo", "mark"][m] ?? String(m));

/**
 * Extracts the probe and has the coordinator search every partition. The parameters and the
 * answer go into the call's audit facts (service.ts stores the event before the caller sees the
 * answer); the search id is the event's id.
 */
export async function search(deps: GatewayDeps, req: SearchRequest, call: AuditedCall): Promise<MessageInitShape<typeof SearchResponseSchema>> {
  const { ctx, facts } = call;
  let outcome = "OK";
  let complete = false;
  try {
    const input = validateSearch(req, deps.limits);
    facts.caseRef = input.caseRef;
    facts.modality = input.modality;
    facts.search = {
      similarityThreshold: input.threshold,
      maxCandidates: input.maxCandidates,
      mode: input.mode,
      allowPartial: input.allowPartial,
      bodyLocations: input.bodyLocations,
    };
    const deadline = deadlineOf(ctx, deps);
    const probe = await deps.extractors.extract(extractRequestOf(input), { deadline, signal: ctx.signal });
    const answer = await deps.coordinators.search(
      {
        modality: input.modality,
        // Checked here: a bad template from an extractor is an internal fault, not the caller's.
        templateF32: encodeTemplateF32(wireTemplate(probe, ErrorCode.INTERNAL)),
        similarityThreshold: input.threshold,
        maxCandidates: input.maxCandidates,
        mode: input.mode,
        allowPartial: input.allowPartial,
        bodyLocations: input.bodyLocations,
      },
      { deadline, signal: ctx.signal },
    );
    complete = answer.unsearchedPartitions.length === 0;
    facts.search = { ...facts.search, candidates: answer.candidates, complete, unsearchedPartitions: answer.unsearchedPartitions };
    return {
      candidates: answer.candidates,
      complete,
      unsearchedPartitions: answer.unsearchedPartitions,
      partitionCount: answer.partitionCount,
      ...(probe.quality ? { probeQuality: probe.quality } : {}),
      ...(probe.record ? { probeRecord: probe.record } : {}),
      similarityThreshold: input.threshold,
      maxCandidates: input.maxCandidates,
      mode: input.mode,
      searchId: call.eventId,
    };
  } catch (err) {
    outcome = errorCodeName(AppError.from(err).code);
    throw err;
  } finally {
    deps.metrics?.searches.inc({ modality: modalityLabel(req.modality), code: outcome, complete: String(complete) });
  }
}
