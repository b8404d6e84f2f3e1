import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  GetSettingsResponseSchema, SettingsHistoryRequest, SettingsHistoryResponseSchema, UpdateSettingsRequest, UpdateSettingsResponseSchema,
} from "@taj/proto";
import { ALL_MODALITIES } from "@taj/common";
import { validateSettingsHistory, validateUpdateSettings } from "../validation.ts";
import type { GatewayDeps } from "../deps.ts";
import type { AuditedCall } from "../audit/index.ts";

/** What this gateway applies now: asked of each gateway, it shows whether all follow one revision. */
export function getSettings(deps: GatewayDeps): MessageInitShape<typeof GetSettingsResponseSchema> {
  return { settings: ALL_MODALITIES.map((m) => deps.settings.version(m)) };
}

/** The change goes to etcd (with its history entry) before the answer; the audit event holds both versions. */
export async function updateSettings(deps: GatewayDeps, req: UpdateSettingsRequest, call: AuditedCall): Promise<MessageInitShape<typeof UpdateSettingsResponseSchema>> {
  const change = validateUpdateSettings(req, deps.limits);
  call.facts.modality = change.settings.modality;
  const { before, after } = await deps.settings.update({ ...change, changedBy: call.principal.id });
  call.facts.settings = { before, after };
  return { version: after };
}

export async function settingsHistory(deps: GatewayDeps, req: SettingsHistoryRequest): Promise<MessageInitShape<typeof SettingsHistoryResponseSchema>> {
  const query = validateSettingsHistory(req);
  return { versions: await deps.settings.history(query.modality, query.beforeRevision, query.pageSize) };
}
