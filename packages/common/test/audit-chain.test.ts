import { test } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { AuditEventSchema, AuditRecordSchema } from "@taj/proto";
import { auditSubject, decodeAuditEvent, decodeAuditRecord, hashEventBytes, sealAuditEvent, verifyAuditChains, type ChainInput } from "../src/index.ts";

/** A chain of n well-formed records for one gateway, at stream sequences start, start+1, ... */
function chain(gatewayId: string, n: number, start = 1): ChainInput[] {
  const out: ChainInput[] = [];
  let prev = new Uint8Array();
  for (let i = 1; i <= n; i++) {
    const event = create(AuditEventSchema, { eventId: `${gatewayId}-${i}`, gatewayId, chainSequence: BigInt(i), prevHash: prev, rpc: "Search", outcome: "OK", caseRef: `C-${i}` });
    const sealed = sealAuditEvent(event);
    prev = new Uint8Array(sealed.hash);
    out.push({ seq: start + i - 1, subject: auditSubject(gatewayId), data: sealed.record });
  }
  return out;
}

/** Rewrites one record's event (e.g. its case_ref), optionally re-sealing it with a fresh hash. */
function edit(m: ChainInput, caseRef: string, reseal: boolean): ChainInput {
  const record = decodeAuditRecord(m.data);
  const event = decodeAuditEvent(record.event);
  event.caseRef = caseRef;
  const bytes = toBinary(AuditEventSchema, event);
  const hash = reseal ? hashEventBytes(bytes) : record.hash;
  return { ...m, data: toBinary(AuditRecordSchema, create(AuditRecordSchema, { event: bytes, hash })) };
}

const renumber = (ms: ChainInput[]) => ms.map((m, i) => ({ ...m, seq: i + 1 }));

test("intact chains of several gateways verify, with each chain's head and the stated limits", () => {
  const a = chain("gateway-a", 5);
  const b = chain("gateway-b", 3, 6);
  const report = verifyAuditChains([a[0]!, b[0]!, ...a.slice(1), ...b.slice(1)]);
  assert.equal(report.ok, true);
  assert.deepEqual(report.chains.map((c) => [c.gatewayId, c.events, c.lastChainSequence, c.firstBreak]), [["gateway-a", 5, 5, undefined], ["gateway-b", 3, 3, undefined]]);
  assert.equal(report.chains[0]!.lastHashHex.length, 64);
  assert.ok(report.limits.some((l) => l.includes("truncation")));
});

test("an edited event whose hash was left alone is altered (hash mismatch) at its own position", () => {
  const a = chain("gateway-a", 5);
  a[2] = edit(a[2]!, "FORGED", false);
  const report = verifyAuditChains(a);
  assert.equal(report.ok, false);
  assert.deepEqual(report.chains[0]!.firstBreak && [report.chains[0]!.firstBreak.kind, report.chains[0]!.firstBreak.streamSequence], ["altered", 3]);
});

test("an edited event re-sealed with a fresh hash is caught by its successor's link", () => {
  const a = chain("gateway-a", 5);
  a[2] = edit(a[2]!, "FORGED", true);
  const brk = verifyAuditChains(a).chains[0]!.firstBreak;
  assert.equal(brk?.kind, "altered");
  assert.equal(brk?.streamSequence, 3);
  assert.equal(brk?.expectedChainSequence, 3);
});

test("a removed event is a gap whose sequence appears nowhere", () => {
  const a = chain("gateway-a", 5);
  const brk = verifyAuditChains([...a.slice(0, 2), ...a.slice(3)]).chains[0]!.firstBreak;
  assert.deepEqual([brk?.kind, brk?.streamSequence, brk?.expectedChainSequence], ["removed", 4, 3]);
  const two = verifyAuditChains([a[0]!, a[3]!, a[4]!]).chains[0]!.firstBreak;
  assert.match(two?.detail ?? "", /2-3 missing \(2 events\)/);
});

test("a swapped pair is reordered, in a file (renumbered) as in a stream", () => {
  const a = chain("gateway-a", 5);
  const swapped = renumber([a[0]!, a[2]!, a[1]!, a[3]!, a[4]!]);
  const brk = verifyAuditChains(swapped).chains[0]!.firstBreak;
  assert.deepEqual([brk?.kind, brk?.streamSequence, brk?.expectedChainSequence], ["reordered", 2, 2]);
});

test("an event deleted and re-published edited at the stream's end is altered; unedited, it is reordered", () => {
  const a = chain("gateway-a", 5);
  const rest = [a[0]!, a[2]!, a[3]!, a[4]!];
  const edited = verifyAuditChains([...rest, { ...edit(a[1]!, "FORGED", true), seq: 6 }]).chains[0]!.firstBreak;
  assert.deepEqual([edited?.kind, edited?.streamSequence], ["altered", 3]);
  const moved = verifyAuditChains([...rest, { ...a[1]!, seq: 6 }]).chains[0]!.firstBreak;
  assert.equal(moved?.kind, "reordered");
});

test("an event copied into another gateway's chain does not verify; garbage is undecodable; a chain starting above 1 is flagged", () => {
  const a = chain("gateway-a", 3);
  const foreign = { ...a[1]!, subject: auditSubject("gateway-b"), seq: 9 };
  const report = verifyAuditChains([...a, foreign]);
  assert.equal(report.chains.find((c) => c.gatewayId === "gateway-b")?.firstBreak?.kind, "altered");
  const junk = verifyAuditChains([...a, { seq: 4, subject: auditSubject("gateway-a"), data: new Uint8Array([0xff, 0xff, 0xff]) }]);
  assert.equal(junk.chains[0]!.firstBreak?.kind, "undecodable");
  const tail = verifyAuditChains(a.slice(1));
  assert.deepEqual([tail.ok, tail.chains[0]!.startsMidway, tail.chains[0]!.firstChainSequence], [true, true, 2]);
});
