import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ErrorCode, FaceCandidatesSchema, type ExtractResponse, type Modality, type SearchRequest, type SearchResponseSchema } from "@taj/proto";
import { AppError, encodeTemplateF32, errorCodeName, wireTemplate } from "@taj/common";
import { validateSearch, type ValidSearch } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import type { AuditedCall } from "../audit/index.ts";
import { extractRequestOf } from "./extract-request.ts";
import { checkQualityGates, qualityShortfall } from "../settings/quality-gates.ts";

const modalityLabel = (m: Modality) => (["unspecified", "face", "tattoo", "mark"][m] ?? String(m));

/**
 * Extracts the probe and has the coordinator search every partition. The parameters and the
 * answer go into the call's audit facts (service.ts stores the event before the caller sees the
 * answer); the search id is the event's id. With every_face, each face of the image is searched
 * on its own, in parallel, and the one event holds every face's box and candidates.
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
    const probe = await deps.extractors.extract({ ...extractRequestOf(input, input.modelId), everyFace: input.everyFace }, { deadline, signal: ctx.signal });
    // The model that made the probe, as the extractor says: shards compare only its templates.
    const searchFor = (template: Pick<ExtractResponse, "templateF32" | "template">) =>
      deps.coordinators.search(
        {
          modality: input.modality,
          // Checked here: a bad template from an extractor is an internal fault, not the caller's.
          templateF32: encodeTemplateF32(wireTemplate(template, ErrorCode.INTERNAL)),
          similarityThreshold: input.threshold,
          maxCandidates: input.maxCandidates,
          mode: input.mode,
          allowPartial: input.allowPartial,
          bodyLocations: input.bodyLocations,
          modelId: probe.modelId,
        },
        { deadline, signal: ctx.signal },
      );
    const ran = ranWith(input, call.eventId);
    if (input.everyFace) {
      // An extractor of the previous release ignores the flag (rolling upgrades mix versions).
      if (probe.faces.length === 0) throw new AppError(ErrorCode.UNAVAILABLE, "no extractor able to search every face answered; retry");
      const faces = await Promise.all(
        probe.faces.map(async (face) => {
          const shortfall = face.error ? undefined : qualityShortfall(input.modality, input.qualityGates, face.quality);
          const error = face.error ?? (shortfall ? { code: shortfall.code, message: shortfall.message } : undefined);
          if (error) return create(FaceCandidatesSchema, { ...(face.quality ? { quality: face.quality } : {}), error, complete: true });
          const answer = await searchFor({ templateF32: face.templateF32, template: [] });
          return create(FaceCandidatesSchema, {
            ...(face.quality ? { quality: face.quality } : {}),
            candidates: answer.candidates,
            complete: answer.unsearchedPartitions.length === 0,
            unsearchedPartitions: answer.unsearchedPartitions,
          });
        }),
      );
      complete = faces.every((f) => f.complete);
      const unsearchedPartitions = [...new Set(faces.flatMap((f) => f.unsearchedPartitions))].sort((a, b) => a - b);
      facts.search = {
        ...facts.search,
        complete,
        unsearchedPartitions,
        faces: faces.map((f) => ({ ...(f.quality?.box ? { box: f.quality.box } : {}), candidates: f.candidates, errorCode: f.error?.code ?? ErrorCode.UNSPECIFIED })),
      };
      return { ...ran, faces, facesFound: probe.facesFound, complete, unsearchedPartitions, partitionCount: deps.partitionCount(), ...record(probe) };
    }
    checkQualityGates(input.modality, input.qualityGates, probe.quality);
    const answer = await searchFor(probe);
    complete = answer.unsearchedPartitions.length === 0;
    facts.search = { ...facts.search, candidates: answer.candidates, complete, unsearchedPartitions: answer.unsearchedPartitions };
    return {
      ...ran,
      candidates: answer.candidates,
      complete,
      unsearchedPartitions: answer.unsearchedPartitions,
      partitionCount: answer.partitionCount,
      ...(probe.quality ? { probeQuality: probe.quality } : {}),
      ...record(probe),
    };
  } catch (err) {
    outcome = errorCodeName(AppError.from(err).code);
    throw err;
  } finally {
    deps.metrics?.searches.inc({ modality: modalityLabel(req.modality), code: outcome, complete: String(complete) });
  }
}

/** The parameters the search ran with, echoed in every answer. */
const ranWith = (input: ValidSearch, searchId: string) => ({
  similarityThreshold: input.threshold,
  maxCandidates: input.maxCandidates,
  mode: input.mode,
  searchId,
});

const record = (probe: ExtractResponse) => (probe.record ? { probeRecord: probe.record } : {});
