import { Option, type Command } from "commander";
import { modalityName, type TlsFiles } from "@taj/common";
import type { Modality } from "@taj/proto";
import { gatewayCaller, gatewayOptions, type GatewayFlags } from "./gateway-caller.ts";
import { modalityArg, positiveIntArg } from "./arg-parsers.ts";

interface DropFlags extends GatewayFlags {
  modality: Modality;
  model: string;
  reason: string;
  batch: number;
  json?: boolean;
}

/** `tajctl models drop`: the last step of a model upgrade (docs/model-upgrade.md), batch after batch until the log's end. */
export function addModelCommands(program: Command, tls: () => TlsFiles, out: (s: string) => void): void {
  const models = program.command("models").description("model upgrades: counts per model are in `tajctl status` / Stats; drop a retired model's templates");
  gatewayOptions(
    models
      .command("drop")
      .description("remove a retired model's templates from the template log (DropModelTemplates, role admin); records holding only that model are listed, not changed")
      .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modalityArg).makeOptionMandatory())
      .addOption(new Option("--model <id>", "the retired model id (no longer the search model nor an enrol model)").makeOptionMandatory())
      .addOption(new Option("--reason <text>", "why (a change ticket): kept in the audit trail").makeOptionMandatory())
      .addOption(new Option("--batch <n>", "records rewritten per call").argParser(positiveIntArg).default(1000))
      .option("--json", "one JSON line per batch"),
    "admin",
  ).action(async (flags: DropFlags) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    let from = 1n;
    let rewritten = 0;
    let uncovered = 0;
    const uncoveredIds: string[] = [];
    try {
      for (;;) {
        const res = await client.dropModelTemplates(
          { modality: flags.modality, modelId: flags.model, fromSequence: from, maxRecords: Math.min(flags.batch, 10_000), reason: flags.reason },
          { metadata, timeoutMs: 60_000 },
        );
        rewritten += res.rewritten;
        uncovered += res.uncovered;
        uncoveredIds.push(...res.uncoveredIds.slice(0, Math.max(0, 100 - uncoveredIds.length)));
        if (flags.json) out(JSON.stringify({ from: String(from), next: String(res.nextSequence), rewritten: res.rewritten, uncovered: res.uncovered, done: res.done }));
        else out(`log sequences ${from}..${res.nextSequence - 1n}: ${res.rewritten} records rewritten, ${res.uncovered} with only ${flags.model}`);
        from = res.nextSequence;
        if (res.done) break;
      }
    } finally {
      client.close();
    }
    out(`${modalityName(flags.modality)}: ${rewritten} records rewritten without ${flags.model}; ${uncovered} hold only it${uncovered > 0 ? ` (re-send or delete them, then run again), e.g. ${uncoveredIds.slice(0, 10).join(", ")}` : ""}`);
    if (uncovered > 0) process.exitCode = 3;
  });
}
