import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AuditFeedbackSchema, AuditModelDropSchema, AuditSearchSchema, AuditSettingsSchema, Modality } from "@taj/proto";

/**
 * What a handler tells the audit trail about its call, beyond what the wrapper knows (principal,
 * rpc, outcome, time). Handlers return it with their answer instead of writing events themselves,
 * so every call is recorded once, in one place (service.ts).
 */
export interface AuditFacts {
  caseRef?: string;
  modality?: Modality;
  recordId?: string;
  search?: MessageInitShape<typeof AuditSearchSchema>;
  feedback?: MessageInitShape<typeof AuditFeedbackSchema>;
  logSequence?: bigint;
  settings?: MessageInitShape<typeof AuditSettingsSchema>;
  modelDrop?: MessageInitShape<typeof AuditModelDropSchema>;
}


const AUDIT_TEXT_MAX = 128;

/**
 * Text taken from a request before (or without) validation, as the audit may keep it: without
 * control or format characters and bounded, so a refused call cannot plant odd bytes or bulk.
 */
export function auditText(value: string): string {
  return value.replace(/\p{C}/gu, "").slice(0, AUDIT_TEXT_MAX);
}
