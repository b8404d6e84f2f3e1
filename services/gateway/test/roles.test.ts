import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { ErrorCode, MatchingService, PrincipalKind, PrincipalSchema, Role } from "@taj/proto";
import { AppError } from "@taj/common";
import { repoRoot } from "@taj/devcluster";
import { authorize, RPC_ROLES, roleName, type GatewayRpc } from "../src/auth/index.ts";

test("the role table covers exactly the RPCs of MatchingService", () => {
  assert.deepEqual(Object.keys(RPC_ROLES).sort(), MatchingService.methods.map((m) => m.name).sort());
});

test("docs/api.md's role table is the code's table", () => {
  const doc = readFileSync(`${repoRoot}/docs/api.md`, "utf8");
  const section = doc.slice(doc.indexOf("## Callers and roles"), doc.indexOf("\n## ", doc.indexOf("## Callers and roles") + 1));
  const rows = [...section.matchAll(/^\| `(\w+)` \| `(\w+)` \|$/gm)].map((m) => [m[1]!, m[2]!]);
  const code = Object.entries(RPC_ROLES).map(([rpc, role]) => [rpc, roleName(role)!]);
  assert.ok(rows.length > 0, "the doc has a role table");
  assert.deepEqual(rows.sort(), code.sort());
});

test("authorize lets a principal through only with the RPC's role, and says which role is missing", () => {
  const withRoles = (...roles: Role[]) => create(PrincipalSchema, { id: "oidc:x", kind: PrincipalKind.TOKEN, roles });
  for (const [rpc, needed] of Object.entries(RPC_ROLES) as Array<[GatewayRpc, Role]>) {
    authorize(withRoles(needed), rpc);
    authorize(withRoles(Role.SEARCH, Role.ENROLL, Role.ADMIN, Role.AUDIT), rpc);
    for (const other of [Role.SEARCH, Role.ENROLL, Role.ADMIN, Role.AUDIT].filter((r) => r !== needed)) {
      assert.throws(() => authorize(withRoles(other), rpc), (e: unknown) => e instanceof AppError && e.code === ErrorCode.PERMISSION_DENIED && e.message.includes(roleName(needed)!));
    }
    assert.throws(() => authorize(withRoles(), rpc), (e: unknown) => e instanceof AppError && e.code === ErrorCode.PERMISSION_DENIED);
  }
});
