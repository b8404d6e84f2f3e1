import { statSync } from "node:fs";
import { resolve } from "node:path";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError, Option } from "commander";
import { type TlsFiles } from "@taj/common";
import type { Modality } from "@taj/proto";
import { gatewayCaller, gatewayOptions, type GatewayFlags } from "./gateway-caller.ts";
import { countItems, folderItems, manifestItems, type ImportItem } from "./import-source.ts";
import { runImport, type ImportProgress } from "./import.ts";
import { modalityArg } from "./arg-parsers.ts";

interface ImportFlags extends GatewayFlags {
  modality?: Modality;
  journal?: string;
  failures?: string;
  window: number;
  retries: number;
  progress: boolean;
}

const modality = modalityArg;
const count = (min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`an integer >= ${min}`);
  return n;
};

/** A bar with rate and ETA on a terminal; off one (a log, CI), a line every 10 s. */
function progressView(total: number, enabled: boolean, stream: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  const rate = (p: ImportProgress) => ((p.enrolled + p.failed) / Math.max((Date.now() - started) / 1000, 0.001)).toFixed(1);
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  if (!stream.isTTY) {
    let last = 0;
    return {
      update(p: ImportProgress) {
        if (Date.now() - last < 10_000) return;
        last = Date.now();
        stream.write(`import: ${p.settled}/${total} (enrolled ${p.enrolled}, failed ${p.failed}, skipped ${p.skipped}) ${rate(p)}/s\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: " [{bar}] {value}/{total} | {rate}/s | ETA {eta_formatted} | enrolled {enrolled} failed {failed} skipped {skipped}", hideCursor: true, etaBuffer: 200, stream },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: "0", enrolled: 0, failed: 0, skipped: 0 });
  return {
    update: (p: ImportProgress) => bar.update(p.settled, { rate: rate(p), enrolled: p.enrolled, failed: p.failed, skipped: p.skipped }),
    stop: () => bar.stop(),
  };
}

/** `tajctl import <folder|manifest.jsonl>`: bulk enrolment over EnrollStream (the migration). */
export function addImportCommand(program: Command, tls: () => TlsFiles, out: (s: string) => void): void {
  gatewayOptions(
    program
      .command("import")
      .description("bulk enrolment (EnrollStream; role enroll): a folder (file name without extension = id) or a JSON Lines manifest; resumable")
      .argument("<source>", "a folder of images, or a manifest: JSON Lines {id, modality, path, box?: {x, y, width, height}, body_location?}")
      .addOption(new Option("--modality <m>", "face, tattoo or mark: every file of a folder (a manifest names its own)").argParser(modality))
      .option("--journal <file>", "acknowledged ids with their log sequence; a rerun skips them (default <source>.import-journal)")
      .option("--failures <file>", "this run's refused items with their error code (default <source>.import-failures)")
      .addOption(new Option("--window <n>", "items sent and not yet answered, at most").argParser(count(1)).default(32))
      .addOption(new Option("--retries <n>", "re-sends of an item answered OVERLOADED, UNAVAILABLE, DEADLINE_EXCEEDED or AUDIT_UNAVAILABLE").argParser(count(0)).default(3))
      .option("--no-progress", "no progress bar"),
    "enroll",
  ).action(async (source: string, flags: ImportFlags) => {
    const path = resolve(source);
    const isFolder = statSync(path).isDirectory();
    if (isFolder && flags.modality === undefined) throw new InvalidArgumentError("a folder needs --modality");
    const items = (): AsyncIterable<ImportItem> => (isFolder ? folderItems(path, flags.modality!) : manifestItems(path));
    const total = await countItems(items());
    const view = progressView(total, flags.progress);
    const { client, metadata } = gatewayCaller(flags, tls());
    // Ctrl-C: stop at once; what was acknowledged is in the journal, a rerun sends the rest.
    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once("SIGINT", onSigint);
    const started = Date.now();
    try {
      const summary = await runImport({
        client, metadata, items: items(),
        journalPath: flags.journal ?? `${path}.import-journal`,
        failuresPath: flags.failures ?? `${path}.import-failures`,
        window: flags.window, retries: flags.retries, signal: abort.signal,
        onProgress: (p) => view.update(p),
      });
      view.stop();
      const seconds = (Date.now() - started) / 1000;
      const sent = summary.enrolled + summary.failed;
      out(`enrolled ${summary.enrolled}, failed ${summary.failed}, skipped ${summary.skipped} (journal) of ${total} in ${seconds.toFixed(1)} s (${(sent / Math.max(seconds, 0.001)).toFixed(1)} items/s)`);
      if (summary.failed > 0) out(`failures: ${flags.failures ?? `${path}.import-failures`}`);
      if (summary.streamError) out(`stopped: ${summary.streamError.message}; run the same command again to resume`);
      else if (summary.interrupted) out("interrupted; run the same command again to resume");
      if (summary.failed > 0 || summary.interrupted) process.exitCode = 1;
    } finally {
      process.off("SIGINT", onSigint);
      view.stop();
      client.close();
    }
  });
}
