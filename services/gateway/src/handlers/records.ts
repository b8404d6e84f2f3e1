import { randomUUID } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import {
  ErrorCode, TemplateEventSchema, type DeleteRequest, type DeleteResponseSchema, type GetRequest, type GetResponseSchema, type Modality,
} from "@taj/proto";
import { AppError, modalityName, partitionOf, templateSubject, type CallContext } from "@taj/common";
import { validateDelete, validateGet } from "../validation.ts";
import { deadlineOf, type GatewayDeps } from "../deps.ts";
import { WrongLastSequence, logUnavailable } from "../template-log.ts";

const subjectOf = (deps: GatewayDeps, modality: Modality, id: string) =>
  templateSubject(modality, partitionOf(id, deps.partitionCount()), id);

/** Concurrent writers on one id are rare; a few re-reads settle them. */
const MAX_RACES = 3;

/**
 * Replaces whatever is stored under the id by a tombstone on the same subject. The stream keeps
 * one message per subject, so the template is gone from the log, and replicas replaying it drop
 * the id. The tombstone is written only if nothing else was written since it was read.
 *
 * It is written even when the id looks absent: the read may come from a stale stream leader (a
 * site cut off from the others answers from its own copy until it notices), so "absent" is only
 * true once a write conditional on it went through the quorum. Answering from the read alone
 * acknowledged deletes of ids enrolled at the other site during a cut (drill 1).
 */
async function deleteOne(deps: GatewayDeps, modality: Modality, id: string, deadline: number): Promise<{ existed: boolean; seq: number }> {
  const subject = subjectOf(deps, modality, id);
  const tombstone = create(TemplateEventSchema, {
    event: { case: "deleted", value: { id, modality, deletedAt: timestampNow() } },
  });
  for (let race = 0; ; race++) {
    const last = await deps.log.last(subject);
    try {
      const seq = await deps.log.publish(subject, tombstone, { msgID: randomUUID(), deadline, expectLastSubjectSequence: last?.seq ?? 0 });
      return { existed: last?.event.event.case === "enrolled", seq };
    } catch (err) {
      if (!(err instanceof WrongLastSequence)) throw AppError.from(err);
      // Still racing (or still reading a stale copy) after a few re-reads: the caller retries.
      if (race >= MAX_RACES) throw logUnavailable(err);
    }
  }
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
    templateDimensions: enrolled.template.length,
    ...(enrolled.enrolledAt ? { enrolledAt: enrolled.enrolledAt } : {}),
    ...(enrolled.quality ? { quality: enrolled.quality } : {}),
  };
}
