import Table from "cli-table3";
import { Option, type Command } from "commander";
import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { modalityName, type TlsFiles } from "@taj/common";
import { ModalitySettingsSchema, SearchMode, SettingsVersionSchema, type ModalitySettings, type SettingsVersion } from "@taj/proto";
import { gatewayCaller, gatewayOptions, type GatewayFlags } from "./gateway-caller.ts";
import { listArg, modalityArg, numberArg, positiveIntArg } from "./arg-parsers.ts";

const MODES = { approximate: SearchMode.APPROXIMATE, exhaustive: SearchMode.EXHAUSTIVE } as const;

export function renderVersions(versions: SettingsVersion[]): string {
  const t = new Table({
    head: ["modality", "rev", "threshold", "max", "mode", "quality gates", "models (search; enrol)", "changed at", "by", "reason"],
    style: { head: [], border: [], compact: false },
  });
  for (const v of versions) {
    const s = v.settings;
    if (!s) continue;
    const q = s.quality;
    const gates = [
      q?.minDetectionScore ? `detection>=${q.minDetectionScore.toFixed(3)}` : "",
      q?.minInterOcularPx ? `eyes>=${q.minInterOcularPx}px` : "",
      q?.minRegionSidePx ? `side>=${q.minRegionSidePx}px` : "",
      q?.minContrast ? `contrast>=${q.minContrast.toFixed(4)}` : "",
    ].filter(Boolean).join(" ") || "extractor's only";
    t.push([
      modalityName(s.modality), String(v.revision), s.similarityThreshold.toFixed(3), String(s.maxCandidates), SearchMode[s.searchMode].toLowerCase(), gates,
      `${s.searchModelId || "default"}; ${s.enrolModelIds.join(",") || "search model"}`,
      v.changedAt ? timestampDate(v.changedAt).toISOString() : "-", v.changedBy, v.reason,
    ]);
  }
  return t.toString();
}

interface SetFlags extends GatewayFlags {
  modality: ModalitySettings["modality"];
  threshold?: number;
  maxCandidates?: number;
  mode?: keyof typeof MODES;
  minDetectionScore?: number;
  minInterOcularPx?: number;
  minRegionSidePx?: number;
  minContrast?: number;
  searchModelId?: string;
  enrolModelIds?: string[];
  reason: string;
  expectedRevision?: number;
  json?: boolean;
}

/** The current settings with the flags given applied; the others unchanged. */
export function changedSettings(current: ModalitySettings, flags: Omit<SetFlags, keyof GatewayFlags | "reason">): ModalitySettings {
  const quality = current.quality;
  return create(ModalitySettingsSchema, {
    modality: current.modality,
    similarityThreshold: flags.threshold ?? current.similarityThreshold,
    maxCandidates: flags.maxCandidates ?? current.maxCandidates,
    searchMode: flags.mode ? MODES[flags.mode] : current.searchMode,
    searchModelId: flags.searchModelId ?? current.searchModelId,
    enrolModelIds: flags.enrolModelIds ?? current.enrolModelIds,
    quality: {
      minDetectionScore: flags.minDetectionScore ?? quality?.minDetectionScore ?? 0,
      minInterOcularPx: flags.minInterOcularPx ?? quality?.minInterOcularPx ?? 0,
      minRegionSidePx: flags.minRegionSidePx ?? quality?.minRegionSidePx ?? 0,
      minContrast: flags.minContrast ?? quality?.minContrast ?? 0,
    },
  });
}

const json = (versions: SettingsVersion[]) => versions.map((v) => JSON.stringify(toJson(SettingsVersionSchema, v, { alwaysEmitImplicit: true }))).join("\n");

/** `tajctl settings get|set|history`: the per-modality defaults through the gateway (role admin). */
export function addSettingsCommands(program: Command, tls: () => TlsFiles, out: (s: string) => void): void {
  const settings = program.command("settings").description("per-modality search defaults and quality gates, applied by every gateway (role admin)");

  gatewayOptions(
    settings.command("get").description("the defaults this gateway applies now, one revision per modality (GetSettings)").option("--json", "JSON lines"),
    "admin",
  ).action(async (flags: GatewayFlags & { json?: boolean }) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    try {
      const res = await client.getSettings({}, { metadata, timeoutMs: 10_000 });
      out(flags.json ? json(res.settings) : renderVersions(res.settings));
    } finally {
      client.close();
    }
  });

  gatewayOptions(
    settings
      .command("set")
      .description("change one modality's defaults: read the current ones, apply the flags given, write them if nobody changed them meanwhile (UpdateSettings)")
      .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modalityArg).makeOptionMandatory())
      .addOption(new Option("--threshold <s>", "similarity threshold of a search that gives none").argParser(numberArg(-1, 1)))
      .addOption(new Option("--max-candidates <n>", "candidates of a search that gives none").argParser(positiveIntArg))
      .addOption(new Option("--mode <mode>", "search mode of a search that gives none").choices(Object.keys(MODES)))
      .addOption(new Option("--min-detection-score <s>", "face: least detector confidence (0 = the extractor's check only)").argParser(numberArg(0, 1)))
      .addOption(new Option("--min-inter-ocular-px <px>", "face: least distance between the eye centres").argParser(numberArg(0, 4096)))
      .addOption(new Option("--min-region-side-px <px>", "tattoo, mark: least shorter side of the region").argParser(numberArg(0, 16384)))
      .addOption(new Option("--min-contrast <c>", "tattoo, mark: least luma contrast of the region").argParser(numberArg(0, 0.5)))
      .addOption(new Option("--search-model-id <id>", "model probes are extracted with (\"\": each extractor's default); docs/model-upgrade.md"))
      .addOption(new Option("--enrol-model-ids <ids>", "csv: models each enrolment extracts, the searched one among them (\"\": the search model only)").argParser(listArg))
      .addOption(new Option("--reason <text>", "why (a change ticket): kept in the history and the audit trail").makeOptionMandatory())
      .addOption(new Option("--expected-revision <n>", "refuse unless this is still the current revision (default: the one just read)").argParser(positiveIntArg))
      .option("--json", "print the new version as JSON"),
    "admin",
  ).action(async (flags: SetFlags) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    try {
      const current = (await client.getSettings({}, { metadata, timeoutMs: 10_000 })).settings.find((v) => v.settings?.modality === flags.modality);
      if (!current?.settings) throw new Error(`the gateway answered no settings for ${modalityName(flags.modality)}`);
      const res = await client.updateSettings(
        {
          settings: changedSettings(current.settings, flags),
          expectedRevision: flags.expectedRevision !== undefined ? BigInt(flags.expectedRevision) : current.revision,
          reason: flags.reason,
        },
        { metadata, timeoutMs: 10_000 },
      );
      const after = res.version ? [res.version] : [];
      out(flags.json ? json(after) : renderVersions([current, ...after]));
    } finally {
      client.close();
    }
  });

  gatewayOptions(
    settings
      .command("history")
      .description("earlier and current versions of one modality's defaults, newest first (SettingsHistory)")
      .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modalityArg).makeOptionMandatory())
      .addOption(new Option("--limit <n>", "versions to show").argParser(positiveIntArg).default(50))
      .option("--json", "JSON lines"),
    "admin",
  ).action(async (flags: GatewayFlags & { modality: ModalitySettings["modality"]; limit: number; json?: boolean }) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    try {
      const res = await client.settingsHistory({ modality: flags.modality, pageSize: Math.min(flags.limit, 1000) }, { metadata, timeoutMs: 10_000 });
      out(flags.json ? json(res.versions) : renderVersions(res.versions));
    } finally {
      client.close();
    }
  });
}
