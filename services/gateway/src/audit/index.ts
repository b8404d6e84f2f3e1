export { AuditTrail, auditUnavailable, auditUnreadable, type AuditPort, type AuditEventDraft, type Appended, type AuditTrailOptions } from "./trail.ts";
export { auditText, type AuditFacts } from "./facts.ts";
export type { AuditedCall } from "./call.ts";
export { decodedEvents, matches, searchedCandidates, eventTimeMs, encodePageToken, decodePageToken, type StoredEvent, type AuditFilter } from "./events.ts";
export { summarizeFeedback, isoWeek, scoreBand } from "./summary.ts";
