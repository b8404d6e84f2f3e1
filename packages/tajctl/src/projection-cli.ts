import Table from "cli-table3";
import { Command, InvalidArgumentError, Option } from "commander";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Modality, Projection } from "@taj/proto";
import {
  activateProjection, deactivateProjection, listProjections, modalityName, readActiveVersions, type TlsFiles,
} from "@taj/common";
import type { Etcd3 } from "etcd3";
import { withNats } from "./nats.ts";
import { learnAndStore, operatorName } from "./projection.ts";
import { PlanError } from "./plan.ts";
import { modalityArg, positiveIntArg } from "./arg-parsers.ts";

const modality = modalityArg;
const positiveInt = positiveIntArg;
const fraction = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number >= 0");
  return n;
};

export const DEFAULT_SAMPLE = 20_000;

const LEARN_HELP = `
The map is centring + PCA whitening, learned without labels from a random sample of the modality's
current templates (read from the template log; no photo needed). It is stored as a new version and
NOT activated: \`tajctl projection activate\` makes shards re-index the modality from the log with it
(searches are served from the old index until the new one has caught up). Templates of one model only.`;

function projectionRow(p: Projection, active: number | undefined): string[] {
  return [
    modalityName(p.modality), String(p.version), p.version === active ? "yes" : "", p.modelId, `${p.inputDimensions} -> ${p.outputDimensions}`,
    String(p.sampleSize), p.createdAt ? timestampDate(p.createdAt).toISOString() : "-", p.createdBy,
  ];
}

/** `tajctl projection learn|activate|deactivate|list`. */
export function addProjectionCommands(
  program: Command, deps: { etcd: () => Etcd3; nats: () => string[] | undefined; tls: () => TlsFiles; out: (s: string) => void },
): void {
  const { out } = deps;
  const withEtcd = async <T>(run: (etcd: Etcd3) => Promise<T>): Promise<T> => {
    const etcd = deps.etcd();
    try {
      return await run(etcd);
    } finally {
      etcd.close();
    }
  };
  const projection = program.command("projection").description("per-modality template projections (centring + whitening): learn, activate, list");

  projection
    .command("learn")
    .description("learn a projection from a sample of the modality's templates in the log and store it as a new version (not activated)")
    .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modality).makeOptionMandatory())
    .addOption(new Option("--dimensions <n>", "output dimensions (at most the template's, fewer than the sample)").argParser(positiveInt).makeOptionMandatory())
    .addOption(new Option("--sample <n>", "templates to learn from, drawn at random from the log").argParser(positiveInt).default(DEFAULT_SAMPLE))
    .option("--model-id <id>", "learn on this model's templates (required when the log holds several)")
    .addOption(new Option("--regularization <r>", "added to each eigenvalue, as a fraction of the mean eigenvalue").argParser(fraction))
    .addOption(new Option("--seed <n>", "seed of the random sample (to repeat one)").argParser(positiveInt))
    .option("--json", "print the stored version as JSON")
    .addHelpText("after", LEARN_HELP)
    .action(async (flags: { modality: Modality; dimensions: number; sample: number; modelId?: string; regularization?: number; seed?: number; json?: boolean }) => {
      const urls = deps.nats();
      if (!urls?.length) throw new PlanError("give --nats (or NATS_URLS): templates are sampled from the template log");
      const result = await withEtcd((etcd) =>
        withNats(urls, deps.tls(), "projection", (nc) => learnAndStore(nc, etcd, {
          modality: flags.modality, dimensions: flags.dimensions, sample: flags.sample, createdBy: operatorName(deps.tls()),
          ...(flags.modelId !== undefined ? { modelId: flags.modelId } : {}),
          ...(flags.regularization !== undefined ? { regularization: flags.regularization } : {}),
          ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
        })),
      );
      const p = result.projection;
      const name = modalityName(p.modality);
      if (flags.json) {
        out(JSON.stringify({
          modality: name, version: p.version, modelId: p.modelId, inputDimensions: p.inputDimensions, outputDimensions: p.outputDimensions,
          sampleSize: p.sampleSize, population: result.population, varianceKept: result.varianceKept, skipped: result.skipped, active: false,
        }, null, 2));
        return;
      }
      out(`${name} projection version ${p.version} stored: ${p.inputDimensions} -> ${p.outputDimensions}, model ${p.modelId || "(none)"}, ` +
        `learned from ${p.sampleSize} of ${result.population} templates, variance kept ${(100 * result.varianceKept).toFixed(1)}%` +
        (result.skipped > 0 ? `, ${result.skipped} of another length skipped` : ""));
      out(`not active; to use it: tajctl projection activate --modality ${name} --version ${p.version}`);
    });

  projection
    .command("activate")
    .description("make a stored version the modality's projection: shards re-index that modality from the log, then switch")
    .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modality).makeOptionMandatory())
    .addOption(new Option("--version <v>", "a stored version (tajctl projection list)").argParser(positiveInt).makeOptionMandatory())
    .action(async (flags: { modality: Modality; version: number }) => {
      await withEtcd((etcd) => activateProjection(etcd, flags.modality, flags.version));
      out(`${modalityName(flags.modality)}: version ${flags.version} active; shards re-index from the log and switch when caught up (ShardStatus lists the version in use)`);
    });

  projection
    .command("deactivate")
    .description("back to raw templates for the modality (shards re-index it from the log)")
    .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modality).makeOptionMandatory())
    .action(async (flags: { modality: Modality }) => {
      const was = await withEtcd((etcd) => deactivateProjection(etcd, flags.modality));
      out(`${modalityName(flags.modality)}: ${was ? "no projection active now; shards re-index with raw templates" : "no projection was active"}`);
    });

  projection
    .command("list")
    .description("stored versions (never the matrices), which one each modality has active")
    .addOption(new Option("--modality <m>", "only this modality").argParser(modality))
    .option("--json", "print as JSON")
    .action(async (flags: { modality?: Modality; json?: boolean }) => {
      const { all, active } = await withEtcd(async (etcd) => ({ all: await listProjections(etcd, flags.modality), active: await readActiveVersions(etcd) }));
      if (flags.json) {
        out(JSON.stringify(all.map((p) => ({
          modality: modalityName(p.modality), version: p.version, active: active.get(p.modality) === p.version, modelId: p.modelId,
          inputDimensions: p.inputDimensions, outputDimensions: p.outputDimensions, sampleSize: p.sampleSize,
          createdAt: p.createdAt ? timestampDate(p.createdAt).toISOString() : null, createdBy: p.createdBy,
        })), null, 2));
        return;
      }
      if (all.length === 0) {
        out("no projection stored");
        return;
      }
      const t = new Table({ head: ["modality", "version", "active", "model", "dimensions", "sample", "created", "by"], style: { head: [], border: [], compact: false } });
      for (const p of all) t.push(projectionRow(p, active.get(p.modality)));
      out(t.toString());
    });
}

