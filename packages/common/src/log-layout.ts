import { Modality } from "@taj/proto";
import { modalityName } from "./ids.ts";

/** JetStream stream holding the template log; one message kept per (modality, id) subject. */
export const TEMPLATE_STREAM = "TAJ_TEMPLATES";
export const TEMPLATE_SUBJECT_ROOT = "taj.tpl";

export function templateSubject(modality: Modality, partition: number, id: string): string {
  return `${TEMPLATE_SUBJECT_ROOT}.${modalityName(modality)}.${partition}.${id}`;
}

/**
 * The consumer filters that read exactly these partitions, every modality: `taj.tpl.*.<p>.>` each,
 * sorted and without duplicates (JetStream rejects overlapping `filter_subjects`; filters of two
 * different partitions never overlap).
 */
export function partitionSubjectFilters(partitions: Iterable<number>): string[] {
  return [...new Set(partitions)].sort((a, b) => a - b).map((p) => {
    if (!Number.isInteger(p) || p < 0) throw new Error(`partition ${p} is not a non-negative integer`);
    return `${TEMPLATE_SUBJECT_ROOT}.*.${p}.>`;
  });
}

export interface ParsedSubject {
  modalityName: string;
  partition: number;
  id: string;
}

export function parseTemplateSubject(subject: string): ParsedSubject | undefined {
  const parts = subject.split(".");
  if (parts.length !== 5 || `${parts[0]}.${parts[1]}` !== TEMPLATE_SUBJECT_ROOT) return undefined;
  const partition = Number(parts[3]);
  if (!Number.isInteger(partition) || partition < 0) return undefined;
  return { modalityName: parts[2]!, partition, id: parts[4]! };
}

export { Modality };

/** JetStream stream of the audit trail: one hash chain per gateway, on subject `taj.audit.<gateway_id>`. */
export const AUDIT_STREAM = "TAJ_AUDIT";
export const AUDIT_SUBJECT_ROOT = "taj.audit";
/** A gateway id is one subject token: no dots, wildcards or spaces, so it names exactly one chain. */
export const GATEWAY_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function auditSubject(gatewayId: string): string {
  if (!GATEWAY_ID_PATTERN.test(gatewayId)) throw new Error(`gateway id ${JSON.stringify(gatewayId)} is not a safe subject token`);
  return `${AUDIT_SUBJECT_ROOT}.${gatewayId}`;
}
