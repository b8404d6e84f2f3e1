import { AUDIT_SUBJECT_ROOT } from "./log-layout.ts";
import { decodeAuditEvent, decodeAuditRecord, hashEventBytes } from "./audit-log.ts";

/** One stored message as the verifier needs it: position, chain subject, raw record bytes. */
export interface ChainInput {
  seq: number;
  subject: string;
  data: Uint8Array;
}

export type BreakKind = "altered" | "removed" | "reordered" | "undecodable";

export interface ChainBreak {
  kind: BreakKind;
  /** Stream sequence where the chain stops holding. */
  streamSequence: number;
  /** The chain_sequence the verifier expected there. */
  expectedChainSequence: number;
  detail: string;
}

export interface ChainReport {
  gatewayId: string;
  events: number;
  firstChainSequence: number;
  /** The newest link: write it down elsewhere to detect a later truncation of the chain. */
  lastChainSequence: number;
  lastHashHex: string;
  /** The chain does not start at 1: older events aged out (retention) or were removed; this cannot tell which. */
  startsMidway: boolean;
  firstBreak: ChainBreak | undefined;
}

export interface VerifyReport {
  ok: boolean;
  chains: ChainReport[];
  /** What hash chains cannot show, stated with every report. */
  limits: string[];
}

export const VERIFY_LIMITS = [
  "truncation of a chain's newest events is not detected (nothing links forward to them): compare each chain's last sequence and hash with a copy kept elsewhere",
  "events older than the retention window are gone by design; a chain that starts above 1 may have lost its oldest events to retention or to removal, which cannot be told apart",
];

interface Link {
  seq: number;
  chainSeq: number;
  hash: Uint8Array;
  prevHash: Uint8Array;
  hashOk: boolean;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

function gatewayOf(subject: string): string {
  return subject.startsWith(`${AUDIT_SUBJECT_ROOT}.`) ? subject.slice(AUDIT_SUBJECT_ROOT.length + 1) : subject;
}

/**
 * Checks every chain of an audit stream (messages in stream order). For each gateway chain it
 * reports the first link that does not hold and what most likely happened there:
 * - altered: an event's bytes do not hash to its stored hash, or the next event links to a
 *   different hash than the one stored (an edited event re-sealed with a fresh hash);
 * - removed: chain sequences jump and the missing ones appear nowhere later;
 * - reordered: the missing ones appear later, unchanged, in the wrong place.
 */
export function verifyAuditChains(messages: Iterable<ChainInput>): VerifyReport {
  const verifier = new ChainVerifier();
  for (const m of messages) verifier.add(m);
  return verifier.report();
}

/**
 * The same check fed one message at a time (stream order), so a long stream is never held in
 * memory: only a small link (sequences and hashes) per event is kept.
 */
export class ChainVerifier {
  readonly #chains = new Map<string, { links: Link[]; undecodable?: ChainBreak }>();

  add(m: ChainInput): void {
    const gatewayId = gatewayOf(m.subject);
    const chain = this.#chains.get(gatewayId) ?? { links: [] };
    this.#chains.set(gatewayId, chain);
    if (chain.undecodable) return;
    try {
      const record = decodeAuditRecord(m.data);
      const event = decodeAuditEvent(record.event);
      const hashOk = same(hashEventBytes(record.event), record.hash) && event.gatewayId === gatewayId;
      // Copies: decoded bytes are views of the whole message, which must not stay in memory.
      chain.links.push({ seq: m.seq, chainSeq: Number(event.chainSequence), hash: new Uint8Array(record.hash), prevHash: new Uint8Array(event.prevHash), hashOk });
    } catch {
      const expected = (chain.links.at(-1)?.chainSeq ?? 0) + 1;
      chain.undecodable = { kind: "undecodable", streamSequence: m.seq, expectedChainSequence: expected, detail: "the message is not an audit record" };
    }
  }

  report(): VerifyReport {
    return reportOf(this.#chains);
  }
}

function reportOf(chains: Map<string, { links: Link[]; undecodable?: ChainBreak }>): VerifyReport {
  const reports = [...chains].sort(([a], [b]) => a.localeCompare(b)).map(([gatewayId, chain]) => {
    const links = chain.links;
    const first = links[0];
    const last = links.at(-1);
    const firstBreak = firstBreakOf(links) ?? chain.undecodable;
    return {
      gatewayId,
      events: links.length,
      firstChainSequence: first?.chainSeq ?? 0,
      lastChainSequence: last?.chainSeq ?? 0,
      lastHashHex: last ? hex(last.hash) : "",
      startsMidway: first !== undefined && first.chainSeq !== 1,
      firstBreak,
    };
  });
  return { ok: reports.every((r) => r.firstBreak === undefined), chains: reports, limits: VERIFY_LIMITS };
}

function firstBreakOf(links: Link[]): ChainBreak | undefined {
  for (let i = 0; i < links.length; i++) {
    const link = links[i]!;
    const prev = i > 0 ? links[i - 1] : undefined;
    const expected = prev ? prev.chainSeq + 1 : link.chainSeq;
    const at = (kind: BreakKind, detail: string): ChainBreak => ({ kind, streamSequence: link.seq, expectedChainSequence: expected, detail });
    if (!link.hashOk) return at("altered", `the event at chain_sequence ${link.chainSeq} does not hash to its stored hash`);
    if (!prev) {
      if (link.chainSeq === 1 && link.prevHash.length !== 0) return at("altered", "the first event of the chain links to a predecessor");
      continue;
    }
    if (link.chainSeq === expected) {
      if (!same(link.prevHash, prev.hash)) {
        return { ...at("altered", `chain_sequence ${link.chainSeq} links to a hash that is not the stored event ${prev.chainSeq}'s: that event was edited`), streamSequence: prev.seq, expectedChainSequence: prev.chainSeq };
      }
      continue;
    }
    if (link.chainSeq < expected) return at("reordered", `chain_sequence ${link.chainSeq} is stored after ${prev.chainSeq}`);
    const later = links.slice(i + 1).find((l) => l.chainSeq === expected);
    if (!later) {
      const missing = link.chainSeq - expected;
      return at("removed", `chain_sequence ${expected}${missing > 1 ? `-${link.chainSeq - 1}` : ""} missing (${missing} event${missing > 1 ? "s" : ""})`);
    }
    // The missing event is stored later: unchanged if the event after it still links to it.
    const successor = links.find((l) => l.chainSeq === expected + 1);
    if (successor && !same(successor.prevHash, later.hash)) {
      return at("altered", `chain_sequence ${expected} was removed here and an edited copy appended at stream sequence ${later.seq}`);
    }
    return at("reordered", `chain_sequence ${expected} is stored later, at stream sequence ${later.seq}`);
  }
  return undefined;
}
