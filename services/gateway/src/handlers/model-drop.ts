import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { TemplateEventSchema, type DropModelTemplatesRequest, type DropModelTemplatesResponseSchema, type TemplateEnrolled } from "@taj/proto";
import { templateSubject } from "@taj/common";
import { validateDropModel } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import type { AuditedCall } from "../audit/index.ts";
import { rewriteIfUnchanged } from "./replace.ts";

const UNCOVERED_IDS_MAX = 100;

/**
 * The record without `modelId`'s template: another model's becomes the template when it was the
 * first. undefined when the record holds none of it, or nothing else (left as it is).
 */
export function withoutModel(enrolled: TemplateEnrolled, modelId: string): TemplateEnrolled | "only" | undefined {
  const others = enrolled.otherModels.filter((m) => m.modelId !== modelId);
  if (enrolled.modelId !== modelId) return others.length === enrolled.otherModels.length ? undefined : { ...enrolled, otherModels: others };
  const [next, ...rest] = others;
  if (!next) return "only";
  return {
    ...enrolled,
    modelId: next.modelId,
    templateF16: next.templateF16,
    template: [],
    ...(next.quality ? { quality: next.quality } : {}),
    otherModels: rest,
  };
}

/**
 * One batch of a model's drop: scans the modality's records from `from_sequence` to the head read
 * now, rewriting each that holds the model beside another, until `max_records` are rewritten or
 * the deadline nears. A record enrolled again meanwhile is skipped: the new one was written under
 * the current settings, which no longer name the model.
 */
export async function dropModelTemplates(deps: GatewayDeps, req: DropModelTemplatesRequest, call: AuditedCall): Promise<MessageInitShape<typeof DropModelTemplatesResponseSchema>> {
  const input = validateDropModel(req, deps.limits);
  call.facts.modality = input.modality;
  const deadline = deadlineOf(call.ctx, deps);
  const answer = { rewritten: 0, uncovered: 0, uncoveredIds: [] as string[], nextSequence: BigInt(input.fromSequence), done: false };
  const audit = () => (call.facts.modelDrop = { ...answer, modelId: input.modelId, fromSequence: BigInt(input.fromSequence), reason: input.reason });
  const scan = deps.log.scan({ modality: input.modality, fromSequence: input.fromSequence });
  try {
    for (;;) {
      const next = await scan.next();
      if (next.done) {
        answer.done = true;
        answer.nextSequence = BigInt(next.value + 1);
        break;
      }
      const record = next.value;
      answer.nextSequence = BigInt(record.seq + 1);
      // Stop in time to answer (a long scan of other records too): the caller goes on from nextSequence.
      if (answer.rewritten >= input.maxRecords || Date.now() > deadline - 1_000) {
        answer.nextSequence = BigInt(record.seq);
        break;
      }
      if (record.event?.event.case !== "enrolled") continue;
      const rewritten = withoutModel(record.event.event.value, input.modelId);
      if (rewritten === undefined) continue;
      if (rewritten === "only") {
        answer.uncovered++;
        if (answer.uncoveredIds.length < UNCOVERED_IDS_MAX) answer.uncoveredIds.push(record.id);
        continue;
      }
      // The record's own subject, whatever the partition count is now.
      const subject = templateSubject(input.modality, record.partition, record.id);
      const event = create(TemplateEventSchema, { event: { case: "enrolled", value: rewritten } });
      if (await rewriteIfUnchanged(deps.log, subject, record.seq, event, deadline)) answer.rewritten++;
    }
  } finally {
    await scan.return(0);
    audit();
  }
  return answer;
}
