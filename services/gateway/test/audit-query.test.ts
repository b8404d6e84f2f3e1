// Unit test of QueryAudit's paging alone, over a stand-in for the stream reader (the real reader
// is exercised against NATS in audit.integration.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { sealAuditEvent, type ReadAuditOptions, type StoredAuditMessage } from "@taj/common";
import { AuditEventSchema, QueryAuditRequestSchema } from "@taj/proto";
import { queryAudit } from "../src/handlers/audit.ts";
import type { GatewayDeps } from "../src/deps.ts";
import type { AuditedCall } from "../src/audit/index.ts";

// 50 events; every 10th is by "oidc:rare".
const stream: StoredAuditMessage[] = Array.from({ length: 50 }, (_, i) => ({
  seq: i + 1,
  subject: "taj.audit.gw",
  storedAtMs: 1_000 + i,
  data: sealAuditEvent(create(AuditEventSchema, { eventId: `e${i + 1}`, at: timestampFromMs(1_000 + i), rpc: "Get", outcome: "OK", principal: { id: i % 10 === 9 ? "oidc:rare" : "oidc:often" } })).record,
}));

function deps(queryScanLimit: number) {
  const reads: ReadAuditOptions[] = [];
  const audit = {
    scan: async function* (o: ReadAuditOptions) {
      reads.push(o);
      const from = o.startSeq ?? 1;
      const messages = stream.filter((m) => m.seq >= from).slice(0, o.maxMessages);
      yield* messages;
      const last = messages.at(-1);
      return last && last.seq < stream.length ? last.seq + 1 : undefined;
    },
  };
  return { d: { audit, auditLimits: { queryScanLimit, feedbackScanLimit: 1, summaryScanLimit: 1 } } as unknown as GatewayDeps, reads };
}
const call = () => ({ facts: {} }) as unknown as AuditedCall;
const req = (o: Record<string, unknown>) => create(QueryAuditRequestSchema, o);

test("a sparse query reads at most the scan limit per page and answers with what it found and a token", async () => {
  const { d, reads } = deps(15);
  const ids: string[] = [];
  let token = "";
  let pages = 0;
  do {
    const res = await queryAudit(d, req({ principalId: "oidc:rare", pageToken: token }), call());
    ids.push(...(res.entries ?? []).map((e) => e.event?.eventId ?? ""));
    token = res.nextPageToken ?? "";
    pages++;
  } while (token);
  assert.deepEqual(ids, ["e10", "e20", "e30", "e40", "e50"]);
  assert.equal(pages, 4, "50 messages at 15 per page");
  assert.ok(reads.every((r) => r.maxMessages <= 15));
  assert.equal(reads.length, pages, "one scan (one consumer) per page");
});

test("a full page stops reading at once; the token resumes right after its last entry, none lost or repeated", async () => {
  const { d } = deps(10_000);
  const first = await queryAudit(d, req({ pageSize: 7 }), call());
  assert.deepEqual(first.entries?.map((e) => e.event!.eventId), ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]);
  const second = await queryAudit(d, req({ pageSize: 7, pageToken: first.nextPageToken }), call());
  assert.equal(second.entries?.[0]?.event?.eventId, "e8");
  const last = await queryAudit(d, req({ pageSize: 1000 }), call());
  assert.equal(last.entries?.length, 50);
  assert.equal(last.nextPageToken, "", "no token on the last page");
});
