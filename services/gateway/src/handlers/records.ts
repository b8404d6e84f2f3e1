import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  ErrorCode, TemplateEventSchema, type DeleteRequest, type DeleteResponseSchema, type GetRequest, type GetResponseSchema, type Modality,
} from "@taj/proto";
import { AppError, enrolledTemplate, modalityName, partitionOf, templateSubject, type CallContext } from "@taj/common";
import { validateDelete, validateGet } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import { replaceOnSubject } from "./replace.ts";

const subjectOf = (deps: GatewayDeps, modality: Modality, id: string) =>
  templateSubject(modality, partitionOf(id, deps.partitionCount()), id);

/**
 * Replaces whatever is stored under the id by a tombstone on the same subject, and erases the
 * template it replaces (see replaceOnSubject): the template is gone from the log's message blocks,
 * and replicas replaying the log drop the id. The tombstone is written only if nothing else was
 * written since it was read.
 *
 * It is written even when the id looks absent: the read may come from a stale stream leader (a
 * site cut off from the others answers from its own copy until it notices), so "absent" is only
 * true once a write conditional on it went through the quorum. Answering from the read alone
 * acknowledged deletes of ids enrolled at the other site during a cut (drill 1).
 */
async function deleteOne(deps: GatewayDeps, modality: Modality, id: string, deadline: number): Promise<{ existed: boolean; seq: number }> {
  const tombstone = create(TemplateEventSchema, {
    event: { case: "deleted", value: { id, modality, deletedAt: timestampNow() } },
  });
  const { seq, previous } = await replaceOnSubject(deps.log, subjectOf(deps, modality, id), tombstone, deadline);
  return { existed: previous?.event.event.case === "enrolled", seq };
}

export async function deleteRecord(deps: GatewayDeps, req: DeleteRequest, ctx: CallContext): Promise<MessageInitShape<typeof DeleteResponseSchema>> {
  const { modalities, id } = validateDelete(req);
  const deadline = deadlineOf(ctx, deps);
  const results = await Promise.all(modalities.map((m) => deleteOne(deps, m, id, deadline)));
  results.forEach((r, i) => deps.metrics?.deletions.inc({ modality: modalityName(modalities[i]!), existed: String(r.existed) }));
  return {
    existed: results.some((r) => r.existed),
    logSequence: BigInt(Math.max(0, ...results.map((r) => r.seq))),
  };
}

export async function getRecord(deps: GatewayDeps, req: GetRequest): Promise<MessageInitShape<typeof GetResponseSchema>> {
  const { modality, id } = validateGet(req);
  const last = await deps.log.last(subjectOf(deps, modality, id));
  if (last?.event.event.case !== "enrolled") throw new AppError(ErrorCode.NOT_FOUND, "no template is enrolled under this id");
  const enrolled = last.event.event.value;
  return {
    id,
    modality,
    logSequence: BigInt(last.seq),
    modelId: enrolled.modelId,
    templateDimensions: enrolledTemplate(enrolled).length,
    bodyLocation: enrolled.bodyLocation,
    otherModelIds: enrolled.otherModels.map((m) => m.modelId),
    ...(enrolled.enrolledAt ? { enrolledAt: enrolled.enrolledAt } : {}),
    ...(enrolled.quality ? { quality: enrolled.quality } : {}),
  };
}
