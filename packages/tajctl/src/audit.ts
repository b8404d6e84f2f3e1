import { readFileSync } from "node:fs";
import type { NatsConnection } from "nats";
import { toJson } from "@bufbuild/protobuf";
import {
  type TlsFiles,
  ChainVerifier, decodeAuditEvent, decodeAuditRecord, scanAuditStream,
  type ChainInput, type StoredAuditMessage, type VerifyReport,
} from "@taj/common";
import { AuditEventSchema } from "@taj/proto";
import { withNats } from "./nats.ts";

/** Every message of the audit stream, oldest first, over one consumer. */
export async function* streamMessages(nc: NatsConnection): AsyncGenerator<StoredAuditMessage> {
  yield* scanAuditStream(nc.jetstream(), await nc.jetstreamManager(), { startSeq: 1, maxMessages: Number.POSITIVE_INFINITY });
}


/** One exported line: the stored record as it is (base64, what verify checks) and its event, readable. */
export interface ExportLine {
  stream_sequence: number;
  subject: string;
  stored_at: string;
  record: string;
  event?: unknown;
}

export function exportLine(m: StoredAuditMessage): string {
  const line: ExportLine = { stream_sequence: m.seq, subject: m.subject, stored_at: new Date(m.storedAtMs).toISOString(), record: Buffer.from(m.data).toString("base64") };
  try {
    line.event = toJson(AuditEventSchema, decodeAuditEvent(decodeAuditRecord(m.data).event));
  } catch {
    // Not an audit record: exported as it is, verify reports it.
  }
  return JSON.stringify(line);
}

export interface FileProblem {
  line: number;
  detail: string;
}

/**
 * The messages of an exported file. The readable `event` of each line must be exactly what its
 * record holds: an edit of the readable part alone is reported too, not just ignored.
 */
export function readExport(path: string): { messages: ChainInput[]; problems: FileProblem[] } {
  const messages: ChainInput[] = [];
  const problems: FileProblem[] = [];
  readFileSync(path, "utf8").split("\n").forEach((text, i) => {
    if (text.trim() === "") return;
    try {
      const line = JSON.parse(text) as Partial<ExportLine>;
      if (typeof line.stream_sequence !== "number" || typeof line.subject !== "string" || typeof line.record !== "string") throw new Error("missing fields");
      const data = new Uint8Array(Buffer.from(line.record, "base64"));
      messages.push({ seq: line.stream_sequence, subject: line.subject, data });
      if (line.event !== undefined) {
        const stored = JSON.stringify(toJson(AuditEventSchema, decodeAuditEvent(decodeAuditRecord(data).event)));
        if (stored !== JSON.stringify(line.event)) problems.push({ line: i + 1, detail: "the readable event differs from its record (edited)" });
      }
    } catch (err) {
      problems.push({ line: i + 1, detail: `not an export line (${err instanceof Error ? err.message : String(err)})` });
    }
  });
  return { messages, problems };
}

export async function verifyStream(servers: string[], tls: TlsFiles): Promise<VerifyReport> {
  return withNats(servers, tls, "audit", async (nc) => {
    const verifier = new ChainVerifier();
    for await (const m of streamMessages(nc)) verifier.add(m);
    return verifier.report();
  });
}

export function renderVerify(report: VerifyReport, fileProblems: FileProblem[] = []): string {
  const lines = report.chains.map((c) => {
    const head = `${c.gatewayId}: ${c.events} events, chain ${c.firstChainSequence}..${c.lastChainSequence}`;
    if (c.firstBreak) {
      const b = c.firstBreak;
      return `${head}: BROKEN at stream sequence ${b.streamSequence} (expected chain_sequence ${b.expectedChainSequence}): ${b.kind}: ${b.detail}`;
    }
    return `${head}: ok, head ${c.lastHashHex.slice(0, 16)}${c.startsMidway ? " (starts above 1: older events aged out or were removed)" : ""}`;
  });
  if (report.chains.length === 0) lines.push("no audit events");
  for (const p of fileProblems) lines.push(`line ${p.line}: ${p.detail}`);
  lines.push("", "Cannot detect:", ...report.limits.map((l) => `  - ${l}`));
  return lines.join("\n");
}
