// Unit test of the wrapper in service.ts alone: the gate and the audit port are stand-ins here
// (the real ones are exercised in audit.integration.test.ts and auth.integration.test.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { AppError, createLogger, type CallContext, type StoredAuditMessage } from "@taj/common";
import { ErrorCode, Modality, PrincipalKind, PrincipalSchema, Role, type Principal } from "@taj/proto";
import { matchingService } from "../src/service.ts";
import type { GatewayDeps } from "../src/deps.ts";
import type { AuditEventDraft, AuditPort } from "../src/audit/index.ts";

const ctx: CallContext = { deadline: Date.now() + 5_000, signal: new AbortController().signal, metadata: new Metadata(), peerCertificate: undefined, peerAddress: "ipv4:127.0.0.1:1", malformedRequest: undefined };
const admin = create(PrincipalSchema, { id: "oidc:admin", kind: PrincipalKind.TOKEN, roles: [Role.ADMIN] });

function setup(options: { admit?: () => Promise<Principal>; appendFails?: boolean; statsFails?: boolean }) {
  const steps: string[] = [];
  const events: AuditEventDraft[] = [];
  const audit: AuditPort = {
    append: async (d) => {
      steps.push("append");
      if (options.appendFails) throw new Error("no stream");
      events.push(d);
      return { streamSequence: events.length, chainSequence: BigInt(events.length) };
    },
    // An empty stream.
    // eslint-disable-next-line require-yield -- an empty stream yields nothing: the generator only returns
    scan: async function* (): AsyncGenerator<StoredAuditMessage, number | undefined, undefined> {
      return undefined;
    },
  };
  const deps = {
    gate: { admit: async () => (steps.push("admit"), (options.admit ?? (async () => admin))()) },
    audit,
    coordinators: {
      clusterStatus: async () => {
        steps.push("handler");
        if (options.statsFails) throw new AppError(ErrorCode.UNAVAILABLE, "no coordinator");
        return { partitionCount: 8, shards: [], uncoveredBySite: {} };
      },
    },
    log: { lastSequence: async () => 7n },
    extractors: { extract: async () => (steps.push("extract"), { template: [], modelId: "m" }) },
    metrics: undefined,
    requestTimeoutMs: 5_000,
    logger: createLogger("test", "silent"),
  } as unknown as GatewayDeps;
  return { service: matchingService(deps), steps, events };
}

test("an allowed call: gate, handler, then the awaited append, then the answer", async () => {
  const { service, steps, events } = setup({});
  const res = await service.stats({} as never, ctx);
  assert.equal(res.logLastSequence, 7n);
  assert.deepEqual(steps, ["admit", "handler", "append"]);
  assert.deepEqual([events[0]?.rpc, events[0]?.outcome, (events[0]?.principal as Principal).id], ["Stats", "OK", "oidc:admin"]);
  assert.match(events[0]?.eventId ?? "", /^[0-9a-f-]{14}7/);
});

test("a refused call does no work and is audited: anonymous when authentication failed, named when the role is missing", async () => {
  const unauth = setup({ admit: async () => Promise.reject(new AppError(ErrorCode.UNAUTHENTICATED, "no credentials")) });
  await assert.rejects(unauth.service.search({ modality: Modality.FACE, caseRef: "C\u0000-1", image: new Uint8Array(1) } as never, ctx), (e: unknown) => e instanceof AppError && e.code === ErrorCode.UNAUTHENTICATED);
  assert.deepEqual(unauth.steps, ["admit", "append"]);
  const event = unauth.events[0]!;
  assert.deepEqual([(event.principal as Principal).kind, event.outcome, event.caseRef, event.modality], [PrincipalKind.ANONYMOUS, "UNAUTHENTICATED", "C-1", Modality.FACE]);

  const denied = setup({});
  await assert.rejects(denied.service.enroll({ modality: Modality.FACE, id: "rec-9", image: new Uint8Array(1) } as never, ctx), (e: unknown) => e instanceof AppError && e.code === ErrorCode.PERMISSION_DENIED);
  assert.deepEqual(denied.steps, ["admit", "append"], "no extraction");
  assert.deepEqual([(denied.events[0]!.principal as Principal).id, denied.events[0]!.outcome, denied.events[0]!.recordId], ["oidc:admin", "PERMISSION_DENIED", "rec-9"]);
});

test("no audit, no answer: a failed append replaces the answer, and also the handler's own error, by AUDIT_UNAVAILABLE", async () => {
  for (const statsFails of [false, true]) {
    const { service, steps } = setup({ appendFails: true, statsFails });
    await assert.rejects(service.stats({} as never, ctx), (e: unknown) => e instanceof AppError && e.code === ErrorCode.AUDIT_UNAVAILABLE && !/no stream/.test(e.message));
    assert.deepEqual(steps, ["admit", "handler", "append"]);
  }
});
