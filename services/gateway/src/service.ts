import { ErrorCode, type MatchingService } from "@taj/proto";
import { AppError, errorCodeName, modalityName, type CallContext, type ServiceImpl } from "@taj/common";
import type { GatewayDeps } from "./deps.ts";
import { enroll } from "./handlers/enroll.ts";
import { search } from "./handlers/search.ts";
import { deleteRecord, getRecord } from "./handlers/records.ts";
import { stats } from "./handlers/stats.ts";

type Impl = ServiceImpl<typeof MatchingService extends { method: infer M } ? M : never>;

/** Times every call by method and outcome code. */
function timed<Req, Res>(deps: GatewayDeps, rpc: string, handler: (req: Req, ctx: CallContext) => Promise<Res>) {
  return async (req: Req, ctx: CallContext): Promise<Res> => {
    const end = deps.metrics?.rpcDuration.startTimer({ rpc });
    try {
      const res = await handler(req, ctx);
      end?.({ code: "OK" });
      return res;
    } catch (err) {
      end?.({ code: errorCodeName(AppError.from(err).code) });
      throw err;
    }
  };
}

function modalityLabel(modality: number): string {
  try {
    return modalityName(modality);
  } catch {
    return "invalid";
  }
}

function notYet(): Promise<never> {
  return Promise.reject(new AppError(ErrorCode.UNAVAILABLE, "not available yet"));
}

export function matchingService(deps: GatewayDeps): Impl {
  return {
    enroll: timed(deps, "Enroll", async (req, ctx) => {
      try {
        const res = await enroll(deps, req, ctx);
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: "OK" });
        return res;
      } catch (err) {
        const code = AppError.from(err).code;
        deps.metrics?.enrollments.inc({ modality: modalityLabel(req.modality), code: errorCodeName(code) });
        throw err;
      }
    }),
    search: timed(deps, "Search", (req, ctx) => search(deps, req, ctx)),
    delete: timed(deps, "Delete", (req, ctx) => deleteRecord(deps, req, ctx)),
    get: timed(deps, "Get", (req) => getRecord(deps, req)),
    stats: timed(deps, "Stats", (_req, ctx) => stats(deps, ctx)),
    // Placeholders until the audit trail lands (issue 8): the contract is in proto/.
    queryAudit: timed(deps, "QueryAudit", () => notYet()),
    recordFeedback: timed(deps, "RecordFeedback", () => notYet()),
    feedbackSummary: timed(deps, "FeedbackSummary", () => notYet()),
  };
}
