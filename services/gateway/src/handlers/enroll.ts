import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { ErrorCode, TemplateEventSchema, type EnrollRequest, type EnrollResponseSchema } from "@taj/proto";
import { encodeTemplateF16, parseBodyLocation, partitionOf, templateSubject, wireTemplate, type CallContext } from "@taj/common";
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
  const extracted = await deps.extractors.extract(
    extractRequestOf(input),
    { deadline, signal: ctx.signal },
  );
  checkQualityGates(input.modality, input.qualityGates, extracted.quality);
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
