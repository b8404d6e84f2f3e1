import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { ErrorCode, TemplateEventSchema, type EnrollRequest, type EnrollResponseSchema } from "@taj/proto";
import { AppError, encodeTemplateF16, parseBodyLocation, partitionOf, templateSubject, wireTemplate, type CallContext } from "@taj/common";
import { validateEnroll } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import { replaceOnSubject } from "./replace.ts";
import { extractRequestOf } from "./extract-request.ts";
import { checkQualityGates } from "../settings/quality-gates.ts";

/**
 * Extract, append to the template log, answer once JetStream has stored it and erased the
 * generation it replaces (a re-enrolment). The image goes nowhere else.
 */
export async function enroll(deps: GatewayDeps, req: EnrollRequest, ctx: CallContext): Promise<MessageInitShape<typeof EnrollResponseSchema>> {
  const input = validateEnroll(req, deps.limits);
  const deadline = deadlineOf(ctx, deps);
  const partitionCount = deps.partitionCount();
  // One extraction per model of the modality's enrol_model_ids (two during a model upgrade), at once.
  const [extracted, ...others] = await Promise.all(
    input.models.map((modelId) => deps.extractors.extract(extractRequestOf(input, modelId), { deadline, signal: ctx.signal })),
  );
  if (!extracted) throw new AppError(ErrorCode.INTERNAL, "internal error", { cause: new Error("no enrol model") });
  for (const e of [extracted, ...others]) checkQualityGates(input.modality, input.qualityGates, e.quality);
  // The caller's location wins; else a Type-10 record's SMT code (checked like a caller's).
  const bodyLocation = input.bodyLocation || parseBodyLocation(input.modality, extracted.record?.bodyLocation ?? "");
  const event = create(TemplateEventSchema, {
    event: {
      case: "enrolled",
      value: {
        id: input.id,
        modality: input.modality,
        templateF16: encodeTemplateF16(wireTemplate(extracted, ErrorCode.INTERNAL)),
        ...(extracted.quality ? { quality: extracted.quality } : {}),
        modelId: extracted.modelId,
        enrolledAt: timestampNow(),
        bodyLocation,
        otherModels: others
          .filter((o) => o.modelId !== extracted.modelId)
          .map((o) => ({ modelId: o.modelId, templateF16: encodeTemplateF16(wireTemplate(o, ErrorCode.INTERNAL)), ...(o.quality ? { quality: o.quality } : {}) })),
      },
    },
  });
  const subject = templateSubject(input.modality, partitionOf(input.id, partitionCount), input.id);
  const { seq } = await replaceOnSubject(deps.log, subject, event, deadline);
  return {
    id: input.id,
    modality: input.modality,
    logSequence: BigInt(seq),
    ...(extracted.quality ? { quality: extracted.quality } : {}),
    ...(extracted.record ? { record: extracted.record } : {}),
    bodyLocation,
  };
}
