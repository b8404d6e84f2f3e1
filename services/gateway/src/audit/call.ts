import type { Principal } from "@taj/proto";
import type { CallContext } from "@taj/common";
import type { AuditFacts } from "./facts.ts";

/**
 * One authenticated, authorised call as a handler sees it. The handler fills `facts` as it learns
 * them (after validation, after the answer), so even a call that fails half-way is recorded with
 * what was known; the wrapper in service.ts writes the one event.
 */
export interface AuditedCall {
  ctx: CallContext;
  principal: Principal;
  /** This call's audit event id (UUIDv7); a Search returns it as its search_id. */
  eventId: string;
  facts: AuditFacts;
}
