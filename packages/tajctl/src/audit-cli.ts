import { createWriteStream } from "node:fs";
import { once } from "node:events";
import Table from "cli-table3";
import { Command, InvalidArgumentError, Option } from "commander";
import { toJson } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { verifyAuditChains, type TlsFiles } from "@taj/common";
import { gatewayCaller, gatewayOptions, type GatewayFlags } from "./gateway-caller.ts";
import { AuditEntrySchema, FeedbackSummaryResponseSchema, Modality, type AuditEntry, type FeedbackBucket } from "@taj/proto";
import { exportLine, readExport, renderVerify, streamMessages, verifyStream } from "./audit.ts";
import { withNats } from "./nats.ts";
import { modalityArg } from "./arg-parsers.ts";

const time = (value: string) => {
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError("expected an ISO 8601 time, e.g. 2026-12-01T00:00:00Z");
  return ms;
};
const modality = modalityArg;
const pageSize = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new InvalidArgumentError("1-1000");
  return n;
};

const table = (head: string[]) => new Table({ head, style: { head: [], border: [], compact: false } });

function renderEntries(entries: AuditEntry[]): string {
  const t = table(["seq", "at", "gateway#", "principal", "rpc", "outcome", "case_ref", "modality", "record / candidates", "ms"]);
  for (const { event, streamSequence } of entries) {
    if (!event) continue;
    const candidates = event.search?.candidates.map((c) => `${c.id}:${c.similarity.toFixed(3)}`).join(" ") ?? "";
    t.push([
      String(streamSequence), event.at ? new Date(Number(event.at.seconds) * 1000 + event.at.nanos / 1e6).toISOString() : "-",
      `${event.gatewayId}#${event.chainSequence}`, event.principal?.id ?? "-", event.rpc, event.outcome, event.caseRef,
      event.modality === Modality.UNSPECIFIED ? "" : Modality[event.modality].toLowerCase(),
      [event.recordId, candidates].filter(Boolean).join(" "), String(event.durationMs),
    ]);
  }
  return t.toString();
}

function renderSummary(buckets: Record<string, FeedbackBucket[]>): string {
  const t = table(["by", "label", "confirmed", "rejected", "unsure", "confirmed rate"]);
  for (const [by, rows] of Object.entries(buckets)) {
    for (const b of rows) t.push([by, b.label, String(b.confirmed), String(b.rejected), String(b.unsure), b.confirmed + b.rejected === 0 ? "-" : b.confirmedRate.toFixed(3)]);
  }
  return t.toString();
}

/** `tajctl audit query|verify|export` and `tajctl feedback-summary`. */
export function addAuditCommands(program: Command, natsUrls: () => string[] | undefined, tls: () => TlsFiles, out: (s: string) => void): void {
  const nats = () => {
    const urls = natsUrls();
    if (!urls?.length) throw new InvalidArgumentError("give --nats (or NATS_URLS): the audit stream is read from NATS");
    return urls;
  };
  const audit = program.command("audit").description("the audit trail: query it through the gateway, verify or export its hash chains from NATS");

  gatewayOptions(
    audit
      .command("query")
      .description("audit events matching every given filter, oldest first (QueryAudit; role audit)")
      .option("--principal <id>", "authenticated principal id, e.g. oidc:inspector-7 or cert:taj-system")
      .option("--case-ref <ref>")
      .option("--record <id>", "events about this record: its enroll/delete/get and searches that returned it")
      .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modality))
      .addOption(new Option("--from <time>", "at or after (ISO 8601)").argParser(time))
      .addOption(new Option("--to <time>", "before (ISO 8601)").argParser(time))
      .option("--rpc <name>", "e.g. Search, Enroll, RecordFeedback")
      .addOption(new Option("--page-size <n>", "events per page").argParser(pageSize).default(100))
      .option("--page-token <token>", "continue from an earlier page")
      .option("--all", "follow page tokens to the end")
      .option("--json", "JSON lines, one entry per line"),
    "audit",
  ).action(async (flags: GatewayFlags & { principal?: string; caseRef?: string; record?: string; modality?: Modality; from?: number; to?: number; rpc?: string; pageSize: number; pageToken?: string; all?: boolean; json?: boolean }) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    try {
      let token = flags.pageToken ?? "";
      for (;;) {
        const res = await client.queryAudit(
          {
            principalId: flags.principal ?? "", caseRef: flags.caseRef ?? "", recordId: flags.record ?? "", modality: flags.modality ?? Modality.UNSPECIFIED,
            ...(flags.from !== undefined ? { from: timestampFromMs(flags.from) } : {}), ...(flags.to !== undefined ? { to: timestampFromMs(flags.to) } : {}),
            rpc: flags.rpc ?? "", pageSize: flags.pageSize, pageToken: token,
          },
          { metadata, timeoutMs: 30_000 },
        );
        if (flags.json) for (const e of res.entries) out(JSON.stringify(toJson(AuditEntrySchema, e)));
        else if (res.entries.length > 0) out(renderEntries(res.entries));
        token = res.nextPageToken;
        if (!token || !flags.all) break;
      }
      if (token && !flags.json) out(`next page: --page-token ${token}`);
      else if (token) out(JSON.stringify({ next_page_token: token }));
    } finally {
      client.close();
    }
  });

  audit
    .command("verify")
    .description("walk every gateway's hash chain (from NATS, or an exported file) and report each chain's first broken link; exit 4 when one is broken")
    .option("--file <path>", "verify an export (tajctl audit export) instead of the live stream")
    .option("--json", "print the report as JSON")
    .action(async (flags: { file?: string; json?: boolean }) => {
      const fromFile = flags.file ? readExport(flags.file) : undefined;
      const report = fromFile ? verifyAuditChains(fromFile.messages) : await verifyStream(nats(), tls());
      const problems = fromFile?.problems ?? [];
      out(flags.json ? JSON.stringify({ ...report, ok: report.ok && problems.length === 0, fileProblems: problems }, null, 2) : renderVerify(report, problems));
      if (!report.ok || problems.length > 0) process.exitCode = 4;
    });

  audit
    .command("export")
    .description("every message of the audit stream as JSON lines (record as stored, base64, plus the event readable)")
    .option("--out <path>", "write to a file instead of stdout")
    .action(async (flags: { out?: string }) => {
      const file = flags.out ? createWriteStream(flags.out) : undefined;
      let n = 0;
      await withNats(nats(), tls(), "audit", async (nc) => {
        for await (const m of streamMessages(nc)) {
          const line = exportLine(m);
          if (file) {
            if (!file.write(`${line}\n`)) await once(file, "drain");
          } else out(line);
          n++;
        }
      });
      if (file) {
        await new Promise<void>((resolve, reject) => file.end((err?: Error | null) => (err ? reject(err) : resolve())));
        out(`exported ${n} events to ${flags.out}`);
      }
    });

  gatewayOptions(
    program
      .command("feedback-summary")
      .description("confirmed-match rates by modality, rank, score band and ISO week (FeedbackSummary; role audit)")
      .addOption(new Option("--modality <m>", "face, tattoo or mark").argParser(modality))
      .addOption(new Option("--from <time>", "verdicts at or after (ISO 8601)").argParser(time))
      .addOption(new Option("--to <time>", "verdicts before (ISO 8601)").argParser(time))
      .option("--json", "print the summary as JSON"),
    "audit",
  ).action(async (flags: GatewayFlags & { modality?: Modality; from?: number; to?: number; json?: boolean }) => {
    const { client, metadata } = gatewayCaller(flags, tls());
    try {
      const res = await client.feedbackSummary(
        { modality: flags.modality ?? Modality.UNSPECIFIED, ...(flags.from !== undefined ? { from: timestampFromMs(flags.from) } : {}), ...(flags.to !== undefined ? { to: timestampFromMs(flags.to) } : {}) },
        { metadata, timeoutMs: 60_000 },
      );
      out(flags.json
        ? JSON.stringify(toJson(FeedbackSummaryResponseSchema, res, { alwaysEmitImplicit: true }), null, 2)
        : renderSummary({ modality: res.byModality, rank: res.byRank, "score band": res.byScoreBand, week: res.byWeek }));
    } finally {
      client.close();
    }
  });
}
