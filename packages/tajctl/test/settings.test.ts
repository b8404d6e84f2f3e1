import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Modality, ModalitySettingsSchema, SearchMode, SettingsVersionSchema } from "@taj/proto";
import { changedSettings, renderVersions } from "../src/settings-cli.ts";
import { buildProgram } from "../src/cli.ts";

const current = create(ModalitySettingsSchema, {
  modality: Modality.FACE, similarityThreshold: 0.4, maxCandidates: 20, searchMode: SearchMode.EXHAUSTIVE, quality: { minDetectionScore: 0.9 },
});

test("settings set changes only the flags given and keeps every other value, gates included", () => {
  const next = changedSettings(current, { modality: Modality.FACE, threshold: 0.45, minInterOcularPx: 40 });
  assert.equal(next.similarityThreshold, 0.45);
  assert.equal(next.maxCandidates, 20);
  assert.equal(next.searchMode, SearchMode.EXHAUSTIVE);
  assert.deepEqual([next.quality?.minDetectionScore, next.quality?.minInterOcularPx, next.quality?.minContrast], [0.9, 40, 0]);
  assert.equal(changedSettings(current, { modality: Modality.FACE, mode: "approximate", minDetectionScore: 0 }).quality?.minDetectionScore, 0, "0 given is 0, not 'unchanged'");
  assert.equal(changedSettings(current, { modality: Modality.FACE, mode: "approximate" }).searchMode, SearchMode.APPROXIMATE);
  const upgrade = changedSettings(current, { modality: Modality.FACE, searchModelId: "m/v1", enrolModelIds: ["m/v1", "m/v2"] });
  assert.deepEqual([upgrade.searchModelId, upgrade.enrolModelIds], ["m/v1", ["m/v1", "m/v2"]]);
  assert.deepEqual(changedSettings(upgrade, { modality: Modality.FACE, threshold: 0.5 }).enrolModelIds, ["m/v1", "m/v2"], "models kept when not given");
});

test("the settings table shows revision, values, gates, who and why", () => {
  const text = renderVersions([create(SettingsVersionSchema, { settings: current, revision: 4n, changedBy: "oidc:admin-3", reason: "CHG-114" })]);
  for (const part of ["face", "4", "0.400", "20", "exhaustive", "detection>=0.900", "oidc:admin-3", "CHG-114"]) assert.ok(text.includes(part), `${part} in\n${text}`);
});

test("settings set refuses a threshold out of range, an unknown mode and a missing reason before calling anyone", async () => {
  for (const args of [
    ["--threshold", "1.5", "--reason", "r"],
    ["--threshold", "abc", "--reason", "r"],
    ["--mode", "fast", "--reason", "r"],
    ["--threshold", "0.4"],
  ]) {
    const errors: string[] = [];
    const program = buildProgram(() => undefined, { cwd: "/nonexistent" });
    program.exitOverride().configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => undefined });
    for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => errors.push(s) });
    const settings = program.commands.find((c) => c.name() === "settings")!;
    for (const c of settings.commands) c.exitOverride().configureOutput({ writeErr: (s) => errors.push(s) });
    await assert.rejects(
      program.parseAsync(["node", "tajctl", "--tls-ca", "a", "--tls-cert", "b", "--tls-key", "c", "settings", "set", "--modality", "face", "--gateway", "127.0.0.1:1", ...args]),
      (err: Error & { code?: string }) => typeof err.code === "string" && err.code.startsWith("commander."),
      args.join(" "),
    );
  }
});
